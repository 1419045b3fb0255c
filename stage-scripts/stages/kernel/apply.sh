#!/usr/bin/env bash
# The kernel of the stemcell (stage-scripts/data/kernels.txt): Ubuntu's LTS
# generic kernel; Debian's cloud kernel on KVM and Xen/Nitro, its full kernel
# on VMware. The initramfs carries the virtio, NVMe and SCSI drivers the
# hypervisors present, compressed with zstd.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

package="$(kernel_package "$STEMCELL_INFRASTRUCTURE")"
write_build_apt_config
# zstd, as initramfs.conf asks: without the zstd command (a Recommends, and
# we install none), mkinitramfs falls back to gzip. At zstd's default level 3
# the initramfs is smaller than gzip's and compresses in a fraction of the
# time; mkinitramfs's own level 9 runs on one core in a reproducible build.
write_file /etc/initramfs-tools/conf.d/compress 0644 <<'CONF'
# Written by the kernel stage of the stemcell build.
COMPRESS=zstd
COMPRESSLEVEL=3
CONF
mount_chroot_filesystems
apt_get update
apt_install "$package" initramfs-tools zstd
if ! dry_run; then
  compgen -G "$CHROOT/boot/vmlinuz-*" >/dev/null || fail "no kernel in /boot after installing $package"
fi
log "installed $package"
