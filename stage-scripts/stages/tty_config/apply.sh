#!/usr/bin/env bash
# Login banners on the console and before SSH authentication, and no
# message of the day that leaks what runs on the VM.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

install_asset issue /etc/issue 0644
install_asset issue /etc/issue.net 0644
write_file /etc/motd 0644 </dev/null
log "banners installed, motd emptied"
