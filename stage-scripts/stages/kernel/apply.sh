#!/usr/bin/env bash
# The kernel of the stemcell (stage-scripts/data/kernels.txt): Ubuntu's LTS
# generic kernel; Debian's cloud kernel on KVM and Xen/Nitro, its full kernel
# on VMware. The initramfs carries the virtio, NVMe and SCSI drivers the
# hypervisors present.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

package="$(kernel_package "$STEMCELL_INFRASTRUCTURE")"
write_build_apt_config
mount_chroot_filesystems
apt_get update
apt_install "$package" initramfs-tools
if ! dry_run; then
  compgen -G "$CHROOT/boot/vmlinuz-*" >/dev/null || fail "no kernel in /boot after installing $package"
fi
log "installed $package"
