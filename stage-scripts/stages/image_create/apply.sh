#!/usr/bin/env bash
# The raw disk: a sparse file of the definition's size with a partition
# table and an ext4 root holding the chroot, and an fstab by UUID. BIOS images
# get one MBR partition from 1 MiB; EFI images a GPT with a 128 MiB EFI system
# partition (the first) and the root (docs/formats.md). Partitions are reached
# through loop devices at their offsets, which works with and without
# partition device nodes; the EFI partition is formatted but never mounted
# (bootloader fills it with mtools), so the build host needs no vfat support.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

disk_dir="$STEMCELL_WORK/disk"
disk="$disk_dir/root.img"
mnt="$STEMCELL_WORK/mnt"
rm -rf "$disk_dir"
mkdir -p "$disk_dir" "$mnt"
truncate --size="${STEMCELL_DISK_SIZE_MIB}M" "$disk"

# The layout is lib/stemcell/disk-layout.ts's, rendered into settings.env.
printf '%s' "$STEMCELL_PARTITION_TABLE" | host_run sfdisk --quiet "$disk"
dry_run && exit 0

# partition N: "start size" in bytes, from sfdisk's dump.
partition() {
  sfdisk --dump "$disk" | awk -v n="$1" -F'[=,]' '/^\/.*: start=/ { i++; if (i == n) { printf "%d %d\n", $2 * 512, $4 * 512 } }'
}

trap release_stage_resources EXIT
root_partition="$STEMCELL_ROOT_PARTITION"
esp_uuid="" esp="" root=""
if [[ -n "$STEMCELL_ESP_PARTITION" ]]; then
  read -r esp_start esp_size < <(partition "$STEMCELL_ESP_PARTITION")
  attach_loop esp "$disk" "$esp_start" "$esp_size"
  mkfs.vfat -F 32 -n EFI "$esp" >/dev/null
  esp_uuid="$(blkid --match-tag UUID --output value "$esp")"
fi
read -r root_start root_size < <(partition "$root_partition")
attach_loop root "$disk" "$root_start" "$root_size"
mkfs.ext4 -q -L stemcell-root "$root"
root_uuid="$(blkid --match-tag UUID --output value "$root")"

mount_once "$mnt" "$root"
(cd "$CHROOT" && tar --create --numeric-owner --xattrs --xattrs-include='security.capability' --one-file-system --file=- .) |
  tar --extract --numeric-owner --xattrs --xattrs-include='security.capability' --directory="$mnt" --file=-
{
  printf '# <file system> <mount point> <type> <options> <dump> <pass>\n'
  printf 'UUID=%s / ext4 defaults,errors=remount-ro 0 1\n' "$root_uuid"
  if [[ -n "$esp_uuid" ]]; then printf 'UUID=%s /boot/efi vfat umask=0077 0 1\n' "$esp_uuid"; fi
} >"$mnt/etc/fstab"
if [[ -n "$esp_uuid" ]]; then mkdir -p "$mnt/boot/efi"; fi

cat >"$disk_dir/layout.env" <<LAYOUT
ROOT_PARTITION=$root_partition
ROOT_START=$root_start
ROOT_SIZE=$root_size
ROOT_UUID=$root_uuid
ESP_START=${esp_start:-}
ESP_SIZE=${esp_size:-}
ESP_UUID=$esp_uuid
LAYOUT
log "$disk: ${STEMCELL_DISK_SIZE_MIB} MiB, $STEMCELL_FIRMWARE, root UUID $root_uuid"
