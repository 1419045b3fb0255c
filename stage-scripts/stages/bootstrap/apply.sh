#!/usr/bin/env bash
# The system in $CHROOT, from an empty directory every time (so the stage is
# idempotent). mmdebstrap by default: it installs the whole base package set
# from the release, updates and security pockets in one apt run, and is
# reproducible with SOURCE_DATE_EPOCH; debootstrap makes a minimal system and
# base_packages does the rest (npm run bench:os-image measures both).
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

keyring() {
  if is_ubuntu; then printf '/usr/share/keyrings/ubuntu-archive-keyring.gpg'; else printf '/usr/share/keyrings/debian-archive-keyring.gpg'; fi
}

fresh_target() {
  if ! dry_run && findmnt --list --noheadings --output TARGET | grep -q "^$CHROOT/"; then
    fail "something is still mounted below $CHROOT; unmount it before bootstrapping again"
  fi
  rm -rf --one-file-system "$CHROOT"
}

with_mmdebstrap() {
  local include option
  include="$(base_package_list | paste -sd,)"
  # shellcheck disable=SC2016 # the hooks are expanded by mmdebstrap, with $1 the target
  local -a args=(
    --mode=root --variant=minbase --format=directory
    --keyring="$(keyring)"
    --include="$include"
    --dpkgopt=force-unsafe-io
    --customize-hook='rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"'
    # Keep downloaded packages in the shared cache for the next build.
    --skip=download/empty
    --setup-hook='mkdir -p "$1/var/cache/apt/archives" && mount --bind "$STEMCELL_PACKAGE_CACHE" "$1/var/cache/apt/archives"'
    --customize-hook='umount "$1/var/cache/apt/archives"'
  )
  while read -r option; do args+=(--dpkgopt="$option"); done < <(data_lines "$ASSETS/dpkg-excludes")
  if [[ -n "$STEMCELL_PROXY" ]]; then args+=(--aptopt="Acquire::http::Proxy \"$STEMCELL_PROXY\""); fi
  if [[ -n "$STEMCELL_SNAPSHOT" ]]; then args+=(--aptopt='Acquire::Check-Valid-Until "false"'); fi
  local codename="$STEMCELL_OS_CODENAME"
  STEMCELL_PACKAGE_CACHE="$STEMCELL_PACKAGE_CACHE" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    host_run mmdebstrap "${args[@]}" "$codename" "$CHROOT" \
    "deb $STEMCELL_MIRROR $codename $STEMCELL_COMPONENTS" \
    "deb $STEMCELL_MIRROR $codename-updates $STEMCELL_COMPONENTS" \
    "deb $STEMCELL_SECURITY_MIRROR $codename-security $STEMCELL_COMPONENTS"
}

with_debootstrap() {
  local -a args=(--variant=minbase --components="${STEMCELL_COMPONENTS// /,}" --keyring="$(keyring)" --cache-dir="$STEMCELL_PACKAGE_CACHE")
  http_proxy="$STEMCELL_PROXY" host_run debootstrap "${args[@]}" "$STEMCELL_OS_CODENAME" "$CHROOT" "$STEMCELL_MIRROR"
}

dry_run || [[ -f "$(keyring)" ]] || fail "$(keyring) is missing: build $STEMCELL_OS on a host with its archive keyring (Ubuntu images on Ubuntu hosts)"
fresh_target
lock_package_cache
case "$STEMCELL_BOOTSTRAP_TOOL" in
  mmdebstrap) with_mmdebstrap ;;
  debootstrap) with_debootstrap ;;
  *) fail "unknown bootstrap tool '$STEMCELL_BOOTSTRAP_TOOL'; use mmdebstrap or debootstrap" ;;
esac
# The excludes stay for every later install: the kernel, and apt on the VMs.
install_asset dpkg-excludes /etc/dpkg/dpkg.cfg.d/01stemcell-excludes 0644
block_service_starts
log "bootstrapped $STEMCELL_OS with $STEMCELL_BOOTSTRAP_TOOL from $STEMCELL_MIRROR"
