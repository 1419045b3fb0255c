#!/usr/bin/env bash
# Kernel parameters every stemcell carries (docs/hardening.md): no forwarding, no
# source routing or redirects, SYN cookies, full ASLR, restricted dmesg and
# kernel pointers, keepalives that notice dead peers within minutes.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

install_asset 60-bosh-sysctl.conf /etc/sysctl.d/60-bosh-sysctl.conf 0644
log "installed /etc/sysctl.d/60-bosh-sysctl.conf"
