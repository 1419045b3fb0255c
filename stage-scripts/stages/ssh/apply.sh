#!/usr/bin/env bash
# sshd hardened as upstream stemcells are. The whole sshd_config is ours, with
# no Include, so no drop-in (cloud-init's, say) can weaken it. Host keys are
# removed here and again by the clean stage; a unit regenerates them at first
# boot, so no two VMs share keys.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package openssh-server
install_asset sshd_config /etc/ssh/sshd_config 0600
install_asset regenerate-ssh-host-keys.service /etc/systemd/system/regenerate-ssh-host-keys.service 0644
chroot_run systemctl enable regenerate-ssh-host-keys.service
chroot_run systemctl enable ssh.service

if ! dry_run; then
  # Validate the configuration with throw-away host keys.
  mkdir -p "$CHROOT/run/sshd"
  chroot_run ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd-check-key
  chroot_run /usr/sbin/sshd -t -f /etc/ssh/sshd_config -h /tmp/sshd-check-key
  rm -f "$CHROOT/tmp/sshd-check-key" "$CHROOT/tmp/sshd-check-key.pub"
fi
rm -f "$CHROOT"/etc/ssh/ssh_host_*
log "sshd_config hardened; host keys removed, regenerated at first boot"
