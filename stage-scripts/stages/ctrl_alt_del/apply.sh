#!/usr/bin/env bash
# Ctrl-Alt-Del on a VM console must not reboot it.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mkdir -p "$CHROOT/etc/systemd/system"
ln -sfn /dev/null "$CHROOT/etc/systemd/system/ctrl-alt-del.target"
write_file /etc/systemd/system.conf.d/61-ctrl-alt-del.conf 0644 <<'CONF'
[Manager]
CtrlAltDelBurstAction=none
CONF
log "ctrl-alt-del.target masked"
