#!/usr/bin/env bash
# BOSH job logs under /var/vcap/sys/log grow without bound; rotate them
# hourly by size, as upstream stemcells do.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package logrotate
install_asset vcap /etc/logrotate.d/vcap 0644
install_asset logrotate-hourly /etc/cron.hourly/logrotate 0700
log "hourly rotation of /var/vcap/sys/log"
