#!/usr/bin/env bash
# Leave the image as a VM should first see it: no build-time apt settings,
# proxy or service block, no package lists or caches, no SSH host keys, an empty
# machine-id (systemd makes a new one at first boot), no NVMe host identity
# (nvme-cli derives one from the VM's own UUID when it is missing), empty logs
# and temp dirs, and no resolv.conf from the build host. Identities made at
# build time would be shared by every VM, and differ from build to build.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

# The build record names the Release files of apt's last update.
mkdir -p "$STEMCELL_WORK/apt-releases"
find "$CHROOT/var/lib/apt/lists" -maxdepth 1 -type f -name '*_InRelease' -exec cp -t "$STEMCELL_WORK/apt-releases" {} + 2>/dev/null || true

rm -f "$CHROOT/usr/sbin/policy-rc.d" "$CHROOT/etc/apt/apt.conf.d/90stemcell-build" \
  "$CHROOT/etc/apt/apt.conf.d/99mmdebstrap" "$CHROOT/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
rm -rf "$CHROOT"/var/lib/apt/lists/* "$CHROOT"/var/cache/apt/*.bin
rm -f "$CHROOT/etc/nvme/hostnqn" "$CHROOT/etc/nvme/hostid"
find "$CHROOT/var/cache/apt/archives" -maxdepth 1 -type f -name '*.deb' -delete 2>/dev/null || true
rm -f "$CHROOT"/etc/ssh/ssh_host_*

mkdir -p "$CHROOT/var/log" "$CHROOT/etc"
: >"$CHROOT/etc/machine-id"
chmod 0444 "$CHROOT/etc/machine-id"
mkdir -p "$CHROOT/var/lib/dbus"
ln -sfn /etc/machine-id "$CHROOT/var/lib/dbus/machine-id"

rm -f "$CHROOT/etc/resolv.conf"
if is_ubuntu; then ln -s ../run/systemd/resolve/stub-resolv.conf "$CHROOT/etc/resolv.conf"; fi

find "$CHROOT/var/log" -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
find "$CHROOT/var/log" -type f -exec truncate --size=0 {} +
rm -rf "$CHROOT"/var/log/journal/* "$CHROOT"/tmp/* "$CHROOT"/var/tmp/* "$CHROOT"/root/.bash_history
log "image cleaned"
