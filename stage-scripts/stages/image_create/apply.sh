#!/usr/bin/env bash
# The raw disk: a sparse file of the definition's size with a partition
# table, an ext4 root made from the chroot, an fstab by UUID, and the boot
# code the bootloader stage prepared. BIOS images get one MBR partition from
# 1 MiB; EFI images a GPT with a 128 MiB EFI system partition (the first) and
# the root (docs/formats.md).
#
# Same chroot, same bytes: the identifiers come from settings.env
# (lib/stemcell/disk-layout.ts), the file systems are written by mke2fs and
# mkfs.vfat straight into the file at their offsets, never mounted (a mounted
# file system gets journal entries, mount times and block placement of the
# moment), with the build's clock, and the times the build host gave the
# chroot's files are set to that clock.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

disk_dir="$STEMCELL_WORK/disk"
disk="$disk_dir/root.img"
boot="$STEMCELL_WORK/boot"

write_fstab() {
  {
    printf '# <file system> <mount point> <type> <options> <dump> <pass>\n'
    printf 'UUID=%s / ext4 defaults,errors=remount-ro 0 1\n' "$STEMCELL_ROOT_FS_UUID"
    if [[ -n "$STEMCELL_ESP_PARTITION" ]]; then printf 'UUID=%s /boot/efi vfat umask=0077 0 1\n' "$(esp_fs_uuid)"; fi
  } | write_file /etc/fstab 0644
  if [[ -n "$STEMCELL_ESP_PARTITION" ]]; then mkdir -p "$CHROOT/boot/efi"; fi
}

# blkid shows a FAT volume id 1234abcd as 1234-ABCD.
esp_fs_uuid() {
  local id="${STEMCELL_ESP_VOLUME_ID^^}"
  printf '%s-%s\n' "${id:0:4}" "${id:4:4}"
}

# debugfs commands giving every file of the chroot the build's clock for its
# access and change times (mke2fs copies them from the build host) and at
# most that clock for its modification time, as the OS image tarball does;
# then the superblock's count of kilobytes written goes to zero.
time_commands() {
  local odd pattern=$'*[\n\r"]*'
  # debugfs reads one command a line, the path in double quotes.
  odd="$(cd "$CHROOT" && find . -name "$pattern" -print -quit)"
  [[ -z "$odd" ]] || fail "cannot set the times of ${odd@Q}: its name holds a line break or a double quote"
  (
    cd "$CHROOT"
    find . -printf "sif \"/%P\" atime @$SOURCE_DATE_EPOCH\nsif \"/%P\" ctime @$SOURCE_DATE_EPOCH\n"
    find . -newermt "@$SOURCE_DATE_EPOCH" -printf "sif \"/%P\" mtime @$SOURCE_DATE_EPOCH\n"
  )
  # The superblock counts the kilobytes e2fsprogs wrote, which depends on the
  # host (a chroot in memory or on disk): a resumed build differed by it alone.
  printf 'ssv kbytes_written 0\n'
}

make_root_fs() {
  local start="$1" size="$2" commands="$disk_dir/times.debugfs"
  E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" MKE2FS_CONFIG="$ASSETS/mke2fs.conf" \
    mkfs.ext4 -q -t ext4 -L stemcell-root -U "$STEMCELL_ROOT_FS_UUID" \
    -E "hash_seed=$STEMCELL_ROOT_HASH_SEED,root_owner=0:0,offset=$start" -d "$CHROOT" "$disk" "$((size / 1024))k"
  time_commands >"$commands"
  # debugfs reads its commands in pieces of 8 KiB: a longer line would split into other commands.
  if awk 'length($0) > 4000 { found = 1; exit } END { exit !found }' "$commands"; then
    fail "a path in the chroot is longer than 4000 bytes; the root file system cannot be made from it"
  fi
  # debugfs reports a failed command on stderr and still exits 0.
  local errors
  errors="$(E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" debugfs -w -f "$commands" "$disk?offset=$start" 2>&1 >/dev/null | grep -v '^debugfs ' || true)"
  [[ -z "$errors" ]] || fail "setting file times in the root file system failed: $(head -n 3 <<<"$errors")"
  rm -f "$commands"
}

make_esp() {
  local start="$1" size="$2"
  # One sector a cluster, as for a 128 MiB device: the whole file's size would
  # give FAT32 too few clusters for mtools. The label comes from mlabel, which
  # dates it by the build's clock; mkfs.vfat would date it by the host's.
  local out
  out="$(mkfs.vfat -F 32 -s 1 -i "$STEMCELL_ESP_VOLUME_ID" --offset="$((start / 512))" "$disk" "$((size / 1024))" 2>&1)" ||
    fail "mkfs.vfat failed: $out"
  [[ -f "$boot/BOOTX64.EFI" ]] || fail "no EFI loader; run the bootloader stage first"
  touch --date="@$SOURCE_DATE_EPOCH" "$boot/BOOTX64.EFI"
  local fat="$disk@@$start"
  export SOURCE_DATE_EPOCH MTOOLS_SKIP_CHECK=1
  mlabel -i "$fat" ::EFI
  mmd -i "$fat" ::/EFI ::/EFI/BOOT
  mcopy -m -i "$fat" "$boot/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
}

# The MBR's boot code (not its partition table) and core.img after it, up to the root partition.
write_bios_boot_code() {
  local gap_sectors="$(($1 / 512 - 1))"
  [[ -f "$boot/bios-boot.img" ]] || fail "no BIOS boot code; run the bootloader stage first"
  dd if="$boot/bios-boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
  dd if="$boot/bios-boot.img" of="$disk" bs=512 skip=1 seek=1 count="$gap_sectors" conv=notrunc status=none
}

if ! dry_run && findmnt --list --noheadings --output TARGET | grep "^$CHROOT/" >/dev/null; then
  fail "something is still mounted below $CHROOT; it would end up in the image"
fi
rm -rf "$disk_dir"
mkdir -p "$disk_dir"
truncate --size="${STEMCELL_DISK_SIZE_MIB}M" "$disk"
# The layout is lib/stemcell/disk-layout.ts's, rendered into settings.env.
printf '%s' "$STEMCELL_PARTITION_TABLE" | host_run sfdisk --quiet "$disk"
write_fstab
dry_run && exit 0

read -r root_start root_size < <(partition_of "$disk" "$STEMCELL_ROOT_PARTITION")
make_root_fs "$root_start" "$root_size"
if [[ -n "$STEMCELL_ESP_PARTITION" ]]; then
  read -r esp_start esp_size < <(partition_of "$disk" "$STEMCELL_ESP_PARTITION")
  make_esp "$esp_start" "$esp_size"
else
  write_bios_boot_code "$root_start"
fi
log "$disk: ${STEMCELL_DISK_SIZE_MIB} MiB, $STEMCELL_FIRMWARE, root UUID $STEMCELL_ROOT_FS_UUID"
