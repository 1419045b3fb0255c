#!/usr/bin/env bash
# No core dumps: they can hold secrets from memory and fill disks.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

write_file /etc/security/limits.d/60-bosh-limits.conf 0644 <<'LIMITS'
# Stemcell Farm: no core dumps for anyone.
* hard core 0
LIMITS
log "core dumps disabled in limits.d"
