#!/usr/bin/env bash
# rsyslog writes the classic log files with tight permissions; BOSH jobs and
# the agent forward from here.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package rsyslog
install_asset 40-stemcell.conf /etc/rsyslog.d/40-stemcell.conf 0644
chroot_run systemctl enable rsyslog.service
log "rsyslog enabled; log files created 0640"
