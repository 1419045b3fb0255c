# shellcheck shell=bash
# Sourced by every stage's apply.sh: settings, logging, and the few helpers
# stages share. run.sh sets STEMCELL_{WORK,CHROOT,SETTINGS,STAGE,STAGE_DIR,LIB}.
set -euo pipefail

: "${STEMCELL_SETTINGS:?stages run through stage-scripts/run.sh}"
# shellcheck source=/dev/null
source "$STEMCELL_SETTINGS"
CHROOT="$STEMCELL_CHROOT"
ASSETS="$STEMCELL_STAGE_DIR/assets"
export CHROOT ASSETS

# run.sh stops a stage by signalling its whole process group. Without a trap,
# bash would run its EXIT trap (unmount, detach) and exit at once while the
# command it waits for still writes below a mount point; with one, bash waits
# for that command to die first.
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

log() { printf '%s: %s\n' "$STEMCELL_STAGE" "$*"; }
fail() {
  printf '%s: ERROR: %s\n' "$STEMCELL_STAGE" "$*" >&2
  exit 1
}

# With STEMCELL_DRY_RUN=1, commands that need root, a network or a real chroot
# are recorded in $STEMCELL_WORK/dry-run.log instead of run, and files are still
# written. That is how the Ubuntu stages, which cannot run on a Debian test
# machine, are unit tested.
dry_run() { [[ "${STEMCELL_DRY_RUN:-}" == 1 ]]; }
record() { printf '%s\n' "$*" >>"$STEMCELL_WORK/dry-run.log"; }

host_run() {
  if dry_run; then record "host: $*"; else "$@"; fi
}

# The build's clock goes in too: package scripts that honour it (useradd's
# password dates, mkinitramfs's archive) then write the same bytes each build.
chroot_run() {
  if dry_run; then record "chroot: $*"; return 0; fi
  chroot "$CHROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$@"
}

is_debian() { [[ "$STEMCELL_OS_DISTRO" == debian ]]; }
is_ubuntu() { [[ "$STEMCELL_OS_DISTRO" == ubuntu ]]; }

# write_file PATH MODE: stdin becomes $CHROOT/PATH, owned by root.
write_file() {
  local path="$CHROOT$1" mode="$2"
  # An absolute symlink inside the chroot would lead a host-side write out of it.
  [[ "$(realpath -m "$path")" == "$(realpath -m "$CHROOT")"/* ]] || fail "$1 resolves outside $CHROOT; refusing to write it"
  mkdir -p "$(dirname "$path")"
  cat >"$path"
  chmod "$mode" "$path"
  dry_run || chown 0:0 "$path"
}

# install_asset NAME PATH MODE: copy the stage's assets/NAME to $CHROOT/PATH.
install_asset() {
  write_file "$2" "$3" <"$ASSETS/$1"
}

# The lines of a data file without comments and blank lines.
data_lines() {
  sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$@"
}

# Builds that share the package cache take turns: apt locks the cache
# directory and fails rather than waits when another build holds it. The lock
# is held until the stage exits.
lock_package_cache() {
  dry_run && return 0
  mkdir -p "$STEMCELL_PACKAGE_CACHE"
  exec {cache_lock}>"$STEMCELL_PACKAGE_CACHE.lock"
  if ! flock --nonblock "$cache_lock"; then
    log "waiting for another build to finish with the package cache $STEMCELL_PACKAGE_CACHE"
    flock "$cache_lock"
  fi
}

# The chroot lives in memory (a tmpfs) when the host has memory to spare:
# dpkg's many small writes and renames take nearly twice as long on disk, and
# the stages after it read it back. run.sh copies it to disk before unmounting
# it when the build stops (for --resume-from) or its work directory is kept.
CHROOT_IN_MEMORY=stemcell-chroot
fresh_chroot() {
  # grep reads all of findmnt's output (no -q): under pipefail, a grep that
  # quits early could kill findmnt with SIGPIPE and so turn "mounted" into "not".
  if ! dry_run && findmnt --list --noheadings --output TARGET | grep "^$CHROOT/" >/dev/null; then
    fail "something is still mounted below $CHROOT; unmount it before starting again"
  fi
  if ! dry_run && mountpoint -q "$CHROOT"; then umount "$CHROOT"; fi
  rm -rf --one-file-system "$CHROOT"
  mkdir -p "$CHROOT"
  dry_run && return 0
  local available_mib size_mib
  available_mib="$(awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo)"
  # What the build's own processes need stays free.
  size_mib=$((available_mib - 2048))
  if ((size_mib >= 4096)); then
    mount -t tmpfs -o "size=${size_mib}m,mode=0755" "$CHROOT_IN_MEMORY" "$CHROOT"
    log "the chroot is in memory (a tmpfs of up to $size_mib MiB)"
  fi
}

MOUNTED=()
mount_once() {
  local target="$1"
  shift
  mkdir -p "$target"
  if mountpoint -q "$target"; then return 0; fi
  mount "$@" "$target"
  MOUNTED+=("$target")
}

unmount_all() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTED[$i]}" || umount --lazy "${MOUNTED[$i]}"
  done
  MOUNTED=()
}

# Mount what package scripts expect inside the chroot, plus the shared
# package cache, until the stage exits.
mount_chroot_filesystems() {
  dry_run && return 0
  [[ -x "$CHROOT/bin/sh" ]] || fail "$CHROOT holds no system; run the bootstrap stage first"
  trap release_stage_resources EXIT
  lock_package_cache
  mount_once "$CHROOT/proc" -t proc proc
  mount_once "$CHROOT/sys" -t sysfs sysfs
  mount_once "$CHROOT/dev" --bind /dev
  mount_once "$CHROOT/dev/pts" --bind /dev/pts
  mkdir -p "$STEMCELL_PACKAGE_CACHE"
  mount_once "$CHROOT/var/cache/apt/archives" --bind "$STEMCELL_PACKAGE_CACHE"
  # Name resolution for apt; whatever a package left there goes. The clean
  # stage writes the file the image ships with.
  rm -f "$CHROOT/etc/resolv.conf"
  cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
  # A stage stopped in the middle of an install (Ctrl-C, a failure) leaves
  # dpkg half-done, and apt refuses to go on: finish that first, so the stage
  # can run again (nothing to do otherwise).
  chroot_run dpkg --configure --pending --force-unsafe-io --force-confdef --force-confold
}

# The base package set: stage-scripts/data/packages/common.txt and <os>.txt,
# plus --extra-packages, one per line.
base_package_list() {
  local dir="$STEMCELL_LIB/../data/packages"
  [[ -f "$dir/$STEMCELL_OS.txt" ]] || fail "no package list $dir/$STEMCELL_OS.txt for $STEMCELL_OS"
  data_lines "$dir/common.txt" "$dir/$STEMCELL_OS.txt"
  local extra
  for extra in ${STEMCELL_EXTRA_PACKAGES:-}; do printf '%s\n' "$extra"; done
}

# kernel_package INFRASTRUCTURE: the kernel package for $STEMCELL_OS there
# (stage-scripts/data/kernels.txt).
kernel_package() {
  local package
  package="$(data_lines "$STEMCELL_LIB/../data/kernels.txt" |
    awk -v os="$STEMCELL_OS" -v iaas="$1" '$1 == os && ($2 == iaas || $2 == "*") { print $3; exit }')"
  [[ -n "$package" ]] || fail "no kernel for $STEMCELL_OS on $1 in stage-scripts/data/kernels.txt"
  printf '%s\n' "$package"
}

# dpkg's fsync after every file makes builds several times slower and buys
# nothing in a chroot that is archived at the end.
apt_get() {
  chroot_run apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    -o Dpkg::Options::=--force-unsafe-io "$@"
}

apt_install() {
  apt_get --no-install-recommends install "$@"
}

require_package() {
  dry_run && return 0
  local pkg
  for pkg in "$@"; do
    # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
    chroot_run dpkg-query --show --showformat='${Status}' "$pkg" 2>/dev/null | grep 'install ok installed' >/dev/null ||
      fail "package $pkg is not installed; it belongs in the base_packages lists"
  done
}

# APT settings for the build only (proxy, snapshot, keep downloads); the clean
# stage removes them, and stages that install packages after an OS image was
# cleaned write them again.
write_build_apt_config() {
  {
    printf '// Written for the build only; removed by the clean stage.\n'
    printf 'APT::Install-Recommends "false";\n'
    printf 'Binary::apt::APT::Keep-Downloaded-Packages "true";\n'
    # Package descriptions in other languages: megabytes nobody reads here.
    printf 'Acquire::Languages "none";\n'
    if [[ -n "$STEMCELL_PROXY" ]]; then printf 'Acquire::http::Proxy "%s";\n' "$STEMCELL_PROXY"; fi
    # Snapshots are frozen in time; their Release files expire.
    if [[ -n "$STEMCELL_SNAPSHOT" ]]; then printf 'Acquire::Check-Valid-Until "false";\n'; fi
  } | write_file /etc/apt/apt.conf.d/90stemcell-build 0644
}

# Package scripts must not start services inside the build chroot; the clean
# stage removes this again.
block_service_starts() {
  printf '#!/bin/sh\nexit 101\n' | write_file /usr/sbin/policy-rc.d 0755
}

# partition_of DISK N: "start size" in bytes of partition N, from sfdisk's dump.
partition_of() {
  sfdisk --dump "$1" | awk -v n="$2" -F'[=,]' '/^\/.*: start=/ { i++; if (i == n) { printf "%d %d\n", $2 * 512, $4 * 512 } }'
}

# Loop devices of the stage, detached when it exits (run.sh detaches any left).
LOOPS=()
# attach_loop NAME FILE [OFFSET SIZE]: attach FILE, or its part at OFFSET, and
# put the device in the variable NAME (not printed: a command substitution
# would run in a subshell and the device would never be detached).
attach_loop() {
  local -n attached="$1"
  shift
  local -a args=(--find --show)
  if [[ $# -eq 3 ]]; then args+=(--offset "$2" --sizelimit "$3"); fi
  attached="$(losetup "${args[@]}" "$1")"
  LOOPS+=("$attached")
}

detach_loops() {
  local device
  for device in "${LOOPS[@]}"; do losetup --detach "$device" 2>/dev/null || true; done
  LOOPS=()
}

release_stage_resources() {
  unmount_all
  detach_loops
}

# An output file appears complete or not at all: write to the returned path,
# then publish_output. run.sh deletes the partial file if the stage is stopped.
partial_output() {
  local partial="$1.partial"
  printf '%s\n' "$partial" >>"$STEMCELL_WORK/partials"
  printf '%s\n' "$partial"
}

publish_output() {
  mv -f -- "$1.partial" "$1"
}
