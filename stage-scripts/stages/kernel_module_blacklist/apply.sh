#!/usr/bin/env bash
# Kernel modules a BOSH VM never needs and attackers like: removable storage,
# Bluetooth, rare network protocols and file systems. Each is blacklisted and
# its install command replaced, so even an explicit modprobe fails.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mapfile -t modules < <(data_lines "$ASSETS/modules.txt")
{
  printf '# Stemcell Farm: modules a BOSH VM does not load.\n'
  for module in "${modules[@]}"; do
    printf 'blacklist %s\ninstall %s /bin/false\n' "$module" "$module"
  done
} | write_file /etc/modprobe.d/60-bosh-blacklist.conf 0644
log "blacklisted ${#modules[@]} modules"
