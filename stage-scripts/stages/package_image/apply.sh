#!/usr/bin/env bash
# The stemcell's image file, in the infrastructure's format:
#   raw:   a gzip tar holding the sparse root.img (AWS: tar -xzf image -O root.img | dd)
#   qcow2: a gzip tar holding root.img in qcow2 (OpenStack)
#   ovf:   a gzip tar of an OVF descriptor and a streamOptimized VMDK (vSphere, vCloud)
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

disk_dir="$STEMCELL_WORK/disk"
[[ -f "$disk_dir/root.img" ]] || fail "no disk image; run image_create first"
mkdir -p "$STEMCELL_OUTPUT_DIR"
out="$(partial_output "$STEMCELL_OUTPUT_DIR/image")"
# Level 4 on every core: a 5 GiB AWS disk takes 6 s against 12 s at gzip's
# default of 6, for 3% more bytes (npm run bench:stemcell).
compress() { pigz --no-name -4 --processes "$(nproc)"; }

# qemu-img gives a VMDK a random content id (CID) in its descriptor; the
# build gives it one from the root's UUID, so a rebuild has the same bytes.
fix_vmdk_cid() {
  local vmdk="$1" descriptor="$1.descriptor" at
  # From a file, not a pipe: a grep that stops at its first match would kill
  # a head still writing into the pipe, and pipefail would fail the stage.
  head -c 65536 "$vmdk" >"$descriptor"
  at="$(grep --byte-offset --only-matching --text --max-count=1 '^CID=[0-9a-f]\{8\}' "$descriptor" | cut -d: -f1)" || at=""
  rm -f "$descriptor"
  [[ -n "$at" ]] || fail "no CID in the descriptor of $vmdk"
  printf 'CID=%s' "${STEMCELL_ROOT_FS_UUID:0:8}" | dd of="$vmdk" bs=1 seek="$at" conv=notrunc status=none
}

case "$STEMCELL_DISK_FORMAT" in
  raw)
    tar --create --sparse --numeric-owner --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" \
      --directory="$disk_dir" root.img | compress >"$out"
    ;;
  qcow2)
    qemu-img convert -f raw -O qcow2 -o compat=1.1 "$disk_dir/root.img" "$disk_dir/root.qcow2"
    tar --create --numeric-owner --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" \
      --transform='s/root.qcow2/root.img/' --directory="$disk_dir" root.qcow2 | compress >"$out"
    ;;
  ovf)
    qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$disk_dir/root.img" "$disk_dir/image-disk1.vmdk"
    fix_vmdk_cid "$disk_dir/image-disk1.vmdk"
    capacity=$((STEMCELL_DISK_SIZE_MIB * 1024 * 1024))
    vmdk_size="$(stat --format=%s "$disk_dir/image-disk1.vmdk")"
    sed -e "s/@NAME@/$STEMCELL_NAME/g" -e "s/@CAPACITY@/$capacity/g" -e "s/@VMDK_SIZE@/$vmdk_size/g" \
      "$ASSETS/image.ovf" >"$disk_dir/image.ovf"
    # An OVA puts the descriptor first.
    tar --create --format=ustar --numeric-owner --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" \
      --directory="$disk_dir" image.ovf image-disk1.vmdk | compress >"$out"
    ;;
  *) fail "unknown disk format '$STEMCELL_DISK_FORMAT'" ;;
esac
publish_output "$STEMCELL_OUTPUT_DIR/image"
log "image ($STEMCELL_DISK_FORMAT): $(du -h "$STEMCELL_OUTPUT_DIR/image" | cut -f1)"
