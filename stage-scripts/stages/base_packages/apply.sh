#!/usr/bin/env bash
# The base package set (stage-scripts/data/packages, plus --extra-packages),
# complete and up to date. mmdebstrap already installs it during bootstrap,
# which is much faster; this stage makes sure of it after debootstrap, a
# resume, or a changed package list. The stages that configure a package check
# it is here.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mapfile -t packages < <(base_package_list)

# mmdebstrap installs the set from all three pockets, so it is complete and
# current unless a resumed or changed build says otherwise.
all_installed() {
  dry_run && return 1
  local installed
  # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
  installed="$(chroot_run dpkg-query --show --showformat='${db:Status-Abbrev}\n' "$@" 2>/dev/null | grep -c '^ii' || true)"
  [[ "$installed" == "$#" ]]
}
if [[ "$STEMCELL_BOOTSTRAP_TOOL" == mmdebstrap ]] && all_installed "${packages[@]}"; then
  log "base package set complete: ${#packages[@]} packages, installed by mmdebstrap from the release, updates and security pockets"
  exit 0
fi

mount_chroot_filesystems
apt_get update
# debootstrap takes the release pocket only; pull updates and security fixes in.
apt_get dist-upgrade
apt_install "${packages[@]}"
log "base package set complete: ${#packages[@]} packages${STEMCELL_EXTRA_PACKAGES:+, including extra packages $STEMCELL_EXTRA_PACKAGES}"
