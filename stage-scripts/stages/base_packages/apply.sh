#!/usr/bin/env bash
# The base package set: assets/common.txt plus assets/<os>.txt, plus
# --extra-packages. Installed in one apt run (one dependency solve, one round
# of triggers); the stages that configure a package check it is here.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

list="$ASSETS/$STEMCELL_OS.txt"
[[ -f "$list" ]] || fail "no package list $list for $STEMCELL_OS"
mapfile -t packages < <(data_lines "$ASSETS/common.txt" "$list")
read -r -a extra <<<"${STEMCELL_EXTRA_PACKAGES:-}"

mount_chroot_filesystems
apt_get update
# Bootstrap takes the release pocket only; pull updates and security fixes in.
apt_get dist-upgrade
apt_install "${packages[@]}" "${extra[@]}"
log "installed ${#packages[@]} base packages${extra[*]:+ and extra packages: ${extra[*]}}"
