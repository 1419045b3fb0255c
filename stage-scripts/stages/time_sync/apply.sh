#!/usr/bin/env bash
# chrony keeps time. Sources come from /etc/chrony/sources.d, where a
# distribution pool is the default and IaaS stages put their own (AWS:
# 169.254.169.123). makestep lets a VM with a wrong clock jump at boot.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package chrony
install_asset chrony.conf /etc/chrony/chrony.conf 0644
if is_ubuntu; then pool=ntp.ubuntu.com; else pool=2.debian.pool.ntp.org; fi
write_file /etc/chrony/sources.d/default.sources 0644 <<SOURCES
pool $pool iburst maxsources 4
SOURCES
chroot_run systemctl enable chrony.service
log "chrony enabled with $pool"
