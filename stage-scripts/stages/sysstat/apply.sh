#!/usr/bin/env bash
# sysstat collects system activity every ten minutes, as on upstream stemcells,
# so operators can look back at a VM's load with sar.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package sysstat
write_file /etc/default/sysstat 0644 <<'SYSSTAT'
# Written by the sysstat stage.
ENABLED="true"
SYSSTAT
chroot_run systemctl enable sysstat.service
log "sysstat collection enabled"
