#!/usr/bin/env bash
# monit as the BOSH agent expects it: /var/vcap/bosh/bin/monit with
# /var/vcap/bosh/etc/monitrc (mode 0700, or monit refuses it), HTTP only on
# localhost. The distribution's monit service stays off: the agent starts monit.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package monit
mkdir -p "$CHROOT/var/vcap/bosh/bin" "$CHROOT/var/vcap/bosh/etc" "$CHROOT/var/vcap/monit/job"
ln -sfn /usr/bin/monit "$CHROOT/var/vcap/bosh/bin/monit"
install_asset monitrc /var/vcap/bosh/etc/monitrc 0700
chroot_run systemctl disable monit.service
log "monit at /var/vcap/bosh/bin/monit, distribution service disabled"
