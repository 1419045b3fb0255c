#!/usr/bin/env bash
# The system in $CHROOT, from an empty directory every time (so the stage is
# idempotent). mmdebstrap by default: it installs the whole base package set
# from the release, updates and security pockets in one apt run, and is
# reproducible with SOURCE_DATE_EPOCH; debootstrap makes a minimal system and
# base_packages does the rest (npm run bench:os-image measures both). The
# chroot is in memory when the host has it to spare (common.sh fresh_chroot).
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

keyring() {
  if is_ubuntu; then printf '/usr/share/keyrings/ubuntu-archive-keyring.gpg'; else printf '/usr/share/keyrings/debian-archive-keyring.gpg'; fi
}

with_mmdebstrap() {
  local target="$1" include
  include="$(base_package_list | paste -sd,)"
  # shellcheck disable=SC2016 # the hooks are expanded by mmdebstrap, with $1 the target
  local -a args=(
    --mode=root --variant=minbase --format=directory
    --keyring="$(keyring)"
    --include="$include"
    --dpkgopt=force-unsafe-io
    --customize-hook='rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"'
    # The excludes go into the chroot's own dpkg configuration, not through
    # --dpkgopt: given path-excludes, mmdebstrap pipes every essential package
    # through a Python filter while extracting, which costs ten seconds. The
    # few files extraction leaves are pruned afterwards.
    --setup-hook='mkdir -p "$1/etc/dpkg/dpkg.cfg.d" && cp "$STEMCELL_DPKG_EXCLUDES" "$1/etc/dpkg/dpkg.cfg.d/01stemcell-excludes"'
    # Keep downloaded packages in the shared cache for the next build, and
    # the package lists for later stages (clean removes them).
    --skip=download/empty --skip=cleanup/apt/lists
    --setup-hook='mkdir -p "$1/var/cache/apt/archives" && mount --bind "$STEMCELL_PACKAGE_CACHE" "$1/var/cache/apt/archives"'
    --customize-hook='umount "$1/var/cache/apt/archives"'
  )
  if [[ -n "$STEMCELL_PROXY" ]]; then args+=(--aptopt="Acquire::http::Proxy \"$STEMCELL_PROXY\""); fi
  if [[ -n "$STEMCELL_SNAPSHOT" ]]; then args+=(--aptopt='Acquire::Check-Valid-Until "false"'); fi
  local codename="$STEMCELL_OS_CODENAME"
  STEMCELL_PACKAGE_CACHE="$STEMCELL_PACKAGE_CACHE" STEMCELL_DPKG_EXCLUDES="$ASSETS/dpkg-excludes" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    host_run mmdebstrap "${args[@]}" "$codename" "$target" \
    "deb $STEMCELL_MIRROR $codename $STEMCELL_COMPONENTS" \
    "deb $STEMCELL_MIRROR $codename-updates $STEMCELL_COMPONENTS" \
    "deb $STEMCELL_SECURITY_MIRROR $codename-security $STEMCELL_COMPONENTS"
}

with_debootstrap() {
  local target="$1"
  local -a args=(--variant=minbase --components="${STEMCELL_COMPONENTS// /,}" --keyring="$(keyring)" --cache-dir="$STEMCELL_PACKAGE_CACHE")
  http_proxy="$STEMCELL_PROXY" host_run debootstrap "${args[@]}" "$STEMCELL_OS_CODENAME" "$target" "$STEMCELL_MIRROR"
}

# excluded PATH: whether dpkg would leave PATH out. As in dpkg, the last
# path-exclude or path-include pattern that matches decides, and `*` matches
# across slashes (as it does in [[ == ]]).
excluded() {
  local rule pattern verdict=1
  for rule in "${EXCLUDE_RULES[@]}"; do
    pattern="${rule#*=}"
    # shellcheck disable=SC2053 # the right side is a glob on purpose
    if [[ "$1" == $pattern ]]; then
      if [[ "$rule" == path-exclude=* ]]; then verdict=0; else verdict=1; fi
    fi
  done
  return "$verdict"
}

# What the bootstrap tool unpacked before dpkg read the excludes (mmdebstrap's
# essential packages, all of debootstrap's) goes the same way as the rest.
prune_excluded_paths() {
  local rule top path pruned=0
  mapfile -t EXCLUDE_RULES < <(data_lines "$ASSETS/dpkg-excludes")
  dry_run && return 0
  for rule in "${EXCLUDE_RULES[@]}"; do
    [[ "$rule" == path-exclude=* ]] || continue
    top="${rule#path-exclude=}"
    top="${top%%[*?[]*}"
    [[ -d "$CHROOT$top" ]] || continue
    while IFS= read -r -d '' path; do
      if excluded "${path#"$CHROOT"}"; then rm -f "$path"; pruned=$((pruned + 1)); fi
    done < <(find "$CHROOT$top" -mindepth 1 \( -type f -o -type l \) -print0)
    find "$CHROOT$top" -mindepth 1 -depth -type d -empty -delete
  done
  log "pruned $pruned files that dpkg's excludes leave out"
}

dry_run || [[ -f "$(keyring)" ]] || fail "$(keyring) is missing: build $STEMCELL_OS on a host with its archive keyring (Ubuntu images on Ubuntu hosts)"
case "$STEMCELL_BOOTSTRAP_TOOL" in
  mmdebstrap | debootstrap) ;;
  *) fail "unknown bootstrap tool '$STEMCELL_BOOTSTRAP_TOOL'; use mmdebstrap or debootstrap" ;;
esac
fresh_chroot
lock_package_cache
"with_$STEMCELL_BOOTSTRAP_TOOL" "$CHROOT"
# The bootstrap tools copy the build host's name; an image must not carry it
# (the stemcell's network_config names the VM until the agent renames it).
rm -f "$CHROOT/etc/hostname"
# The excludes stay for every later install: the kernel, and apt on the VMs.
install_asset dpkg-excludes /etc/dpkg/dpkg.cfg.d/01stemcell-excludes 0644
prune_excluded_paths
block_service_starts
log "bootstrapped $STEMCELL_OS with $STEMCELL_BOOTSTRAP_TOOL from $STEMCELL_MIRROR"
