#!/usr/bin/env bash
# GRUB, made ready for the disk that image_create builds next: grub.cfg and
# GRUB's modules go into the chroot (so into the root file system), the boot
# code into $STEMCELL_WORK/boot:
#   BIOS: the MBR's boot code and core.img of a grub-install onto a small
#         scratch disk whose root file system has the stemcell's root UUID
#         (core.img finds /boot/grub by that UUID, so it boots the real disk);
#   EFI:  the removable-media loader EFI/BOOT/BOOTX64.EFI from grub-mkimage,
#         with an early config that finds the root by UUID.
# The real root file system is then made from the chroot in one go, never
# mounted, so that a rebuild gives the same bytes. grub.cfg is ours and mode
# 0600: serial and screen console, audit=1, classic interface names (and NVMe
# timeouts that survive EBS hiccups on AWS); editing entries or the command
# line needs a password that nobody knows, booting the entry does not.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

boot="$STEMCELL_WORK/boot"
kernel_args="ro console=tty0 console=ttyS0,115200n8 audit=1 net.ifnames=0 biosdevname=0"
if [[ "$STEMCELL_INFRASTRUCTURE" == aws ]]; then kernel_args+=" nvme_core.io_timeout=4294967295"; fi

# A grub-install onto a scratch disk laid out as the real one: what it writes
# before the root partition (MBR boot code, the embedded core.img) and the
# files it puts in /boot/grub.
bios_boot_code() {
  local scratch="$boot/scratch.img" mnt="$boot/scratch-root" whole="" root="" start size
  truncate --size=64M "$scratch"
  # The real disk's table (lib/stemcell/disk-layout.ts), on a smaller disk.
  printf '%s' "$STEMCELL_PARTITION_TABLE" | sfdisk --quiet "$scratch"
  read -r start size < <(partition_of "$scratch" "$STEMCELL_ROOT_PARTITION")
  trap release_stage_resources EXIT
  attach_loop whole "$scratch"
  attach_loop root "$scratch" "$start" "$size"
  mkfs.ext4 -q -U "$STEMCELL_ROOT_FS_UUID" "$root"
  mount_once "$mnt" "$root"
  grub-install --target=i386-pc --boot-directory="$mnt/boot" --modules="part_msdos ext2 biosdisk search_fs_uuid" "$whole"
  rm -rf "$CHROOT/boot/grub"
  cp -r "$mnt/boot/grub" "$CHROOT/boot/grub"
  release_stage_resources
  # Everything before the root partition: the MBR and the gap core.img is embedded in.
  dd if="$scratch" of="$boot/bios-boot.img" bs=512 count="$((start / 512))" status=none
  rm -rf "$scratch" "$mnt"
}

efi_loader() {
  local early="$boot/early.cfg"
  rm -rf "$CHROOT/boot/grub"
  mkdir -p "$CHROOT/boot/grub"
  cp -r /usr/lib/grub/x86_64-efi "$CHROOT/boot/grub/"
  # shellcheck disable=SC2016 # GRUB variables, expanded by GRUB
  printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' "$STEMCELL_ROOT_FS_UUID" >"$early"
  grub-mkimage --format=x86_64-efi --output="$boot/BOOTX64.EFI" --config="$early" --prefix=/boot/grub \
    part_gpt part_msdos ext2 fat search search_fs_uuid normal configfile linux gzio echo test \
    serial terminal efi_gop all_video password_pbkdf2 pbkdf2
}

kernel="$(cd "$CHROOT/boot" && find . -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sort -V | tail -n 1)"
[[ -n "$kernel" ]] || fail "no kernel in /boot; run the kernel stage first"
version="${kernel#vmlinuz-}"
[[ "$STEMCELL_GRUB_PASSWORD_HASH" == grub.pbkdf2.sha512.* ]] || fail "STEMCELL_GRUB_PASSWORD_HASH is not a GRUB PBKDF2 hash"

if [[ "$STEMCELL_FIRMWARE" == efi ]]; then partmap=part_gpt; else partmap=part_msdos; fi
rm -rf "$boot"
mkdir -p "$boot"
if dry_run; then
  record "host: grub boot code for $STEMCELL_FIRMWARE"
  mkdir -p "$CHROOT/boot/grub"
elif [[ "$STEMCELL_FIRMWARE" == efi ]]; then
  efi_loader
else
  bios_boot_code
fi

write_file /boot/grub/grub.cfg 0600 <<GRUB
# Written by the bootloader stage.
set default=0
set timeout=1
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set superusers="bosh"
password_pbkdf2 bosh $STEMCELL_GRUB_PASSWORD_HASH
insmod $partmap
insmod ext2
search --no-floppy --fs-uuid --set=root $STEMCELL_ROOT_FS_UUID
menuentry 'BOSH stemcell $STEMCELL_VERSION' --unrestricted {
  linux /boot/vmlinuz-$version root=UUID=$STEMCELL_ROOT_FS_UUID $kernel_args
  initrd /boot/initrd.img-$version
}
GRUB
log "grub ($STEMCELL_FIRMWARE) boots $version with: $kernel_args"
