#!/usr/bin/env bash
# A network that comes up by DHCP on the first interface, which the agent
# replaces with the deployment's settings. Classic interface names (eth0), as
# the agent and upstream stemcells expect (net.ifnames=0 on the kernel line).
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

install_asset interfaces /etc/network/interfaces 0644
mkdir -p "$CHROOT/etc/network/interfaces.d"
printf 'bosh-stemcell\n' | write_file /etc/hostname 0644
install_asset hosts /etc/hosts 0644
log "eth0 by DHCP until the agent configures the network"
