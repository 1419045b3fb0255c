#!/usr/bin/env bash
# GRUB on the raw disk: in the MBR for BIOS (grub-install on the loop device),
# as the removable-media loader EFI/BOOT/BOOTX64.EFI for EFI (grub-mkimage with
# an early config that finds the root by UUID, copied in with mtools). grub.cfg is ours and mode 0600: serial and
# screen console, audit=1, classic interface names (and NVMe timeouts that
# survive EBS hiccups on AWS); editing entries or the command line needs a
# password that nobody knows, booting the entry does not.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

disk="$STEMCELL_WORK/disk/root.img"
mnt="$STEMCELL_WORK/mnt"
[[ -f "$STEMCELL_WORK/disk/layout.env" ]] || fail "no disk layout; run image_create first"
# shellcheck source=/dev/null
source "$STEMCELL_WORK/disk/layout.env"

kernel_args="ro console=tty0 console=ttyS0,115200n8 audit=1 net.ifnames=0 biosdevname=0"
if [[ "$STEMCELL_INFRASTRUCTURE" == aws ]]; then kernel_args+=" nvme_core.io_timeout=4294967295"; fi

grub_password_hash() {
  local password
  password="$(head -c 32 /dev/urandom | base64)"
  printf '%s\n%s\n' "$password" "$password" | grub-mkpasswd-pbkdf2 | awk '/grub.pbkdf2/ { print $NF }'
}

install_efi_loader() {
  local efi="$STEMCELL_WORK/disk/BOOTX64.EFI" early="$STEMCELL_WORK/disk/early.cfg"
  mkdir -p "$mnt/boot/grub"
  cp -r /usr/lib/grub/x86_64-efi "$mnt/boot/grub/"
  # shellcheck disable=SC2016 # GRUB variables, expanded by GRUB
  printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' "$ROOT_UUID" >"$early"
  grub-mkimage --format=x86_64-efi --output="$efi" --config="$early" --prefix=/boot/grub \
    part_gpt part_msdos ext2 fat search search_fs_uuid normal configfile linux gzio echo test \
    serial terminal efi_gop all_video password_pbkdf2 pbkdf2
  local esp="$disk@@$ESP_START"
  MTOOLS_SKIP_CHECK=1 mmd -i "$esp" ::/EFI ::/EFI/BOOT
  MTOOLS_SKIP_CHECK=1 mcopy -i "$esp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
}

trap release_stage_resources EXIT
whole="" root=""
attach_loop whole "$disk"
attach_loop root "$disk" "$ROOT_START" "$ROOT_SIZE"
mount_once "$mnt" "$root"
if [[ "$STEMCELL_FIRMWARE" == efi ]]; then
  install_efi_loader
  partmap=part_gpt
else
  grub-install --target=i386-pc --boot-directory="$mnt/boot" --modules="part_msdos ext2 biosdisk search_fs_uuid" "$whole"
  partmap=part_msdos
fi

kernel="$(cd "$mnt/boot" && find . -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sort -V | tail -n 1)"
[[ -n "$kernel" ]] || fail "no kernel in /boot; run the kernel stage first"
version="${kernel#vmlinuz-}"
hash="$(grub_password_hash)"
[[ "$hash" == grub.pbkdf2.* ]] || fail "grub-mkpasswd-pbkdf2 gave no hash"
cat >"$mnt/boot/grub/grub.cfg" <<GRUB
# Written by the bootloader stage.
set default=0
set timeout=1
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set superusers="bosh"
password_pbkdf2 bosh $hash
insmod $partmap
insmod ext2
search --no-floppy --fs-uuid --set=root $ROOT_UUID
menuentry 'BOSH stemcell $STEMCELL_VERSION' --unrestricted {
  linux /boot/vmlinuz-$version root=UUID=$ROOT_UUID $kernel_args
  initrd /boot/initrd.img-$version
}
GRUB
chmod 0600 "$mnt/boot/grub/grub.cfg"
log "grub ($STEMCELL_FIRMWARE) boots $version with: $kernel_args"
