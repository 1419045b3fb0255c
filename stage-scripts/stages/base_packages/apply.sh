#!/usr/bin/env bash
# The base package set (stage-scripts/data/packages, plus --extra-packages),
# complete and up to date. mmdebstrap already installs it during bootstrap,
# which is much faster; this stage makes sure of it after debootstrap, a
# resume, or a changed package list. The stages that configure a package check
# it is here.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mapfile -t packages < <(base_package_list)

mount_chroot_filesystems
apt_get update
# debootstrap takes the release pocket only; pull updates and security fixes in.
apt_get dist-upgrade
apt_install "${packages[@]}"
log "base package set complete: ${#packages[@]} packages${STEMCELL_EXTRA_PACKAGES:+, including extra packages $STEMCELL_EXTRA_PACKAGES}"
