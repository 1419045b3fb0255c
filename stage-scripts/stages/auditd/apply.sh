#!/usr/bin/env bash
# auditd with rules for what an auditor asks about: time and identity
# changes, logins and sessions, permission changes, privileged commands,
# kernel modules, mounts and deletions. The rules end immutable (-e 2): changing
# them needs a reboot.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package auditd
install_asset 60-bosh.rules /etc/audit/rules.d/60-bosh.rules 0640
sed -i -E 's/^max_log_file_action.*/max_log_file_action = keep_logs/' "$CHROOT/etc/audit/auditd.conf"
chmod 0640 "$CHROOT/etc/audit/auditd.conf"
chroot_run systemctl enable auditd.service
log "audit rules installed"
