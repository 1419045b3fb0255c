#!/usr/bin/env bash
# The vcap user and the groups BOSH relies on: bosh_sshers may log in over
# SSH, bosh_sudoers may use sudo, admin for upstream compatibility. Passwords
# are locked: access is by key only, and sudo needs none.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

ensure_group() {
  chroot_run sh -c "getent group '$1' >/dev/null || groupadd --system '$1'"
}

for group in admin bosh_sshers bosh_sudoers; do ensure_group "$group"; done
chroot_run sh -c "getent group vcap >/dev/null || groupadd --gid 1000 vcap"
chroot_run sh -c "getent passwd vcap >/dev/null || useradd --uid 1000 --gid vcap --create-home --home-dir /home/vcap --shell /bin/bash vcap"
chroot_run usermod --groups admin,adm,audio,cdrom,dialout,floppy,video,dip,bosh_sshers,bosh_sudoers vcap
chroot_run usermod --lock vcap
chroot_run usermod --lock root
dry_run || chmod 0700 "$CHROOT/home/vcap" "$CHROOT/root"
log "vcap (uid 1000) in admin, bosh_sshers, bosh_sudoers; vcap and root passwords locked"
