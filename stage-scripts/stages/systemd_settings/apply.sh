#!/usr/bin/env bash
# systemd defaults for a VM nobody logs into for fun: persistent, bounded
# journal also forwarded to rsyslog; no core dumps; no automatic apt runs (a
# BOSH VM changes only through a new stemcell). On Ubuntu, also no motd news
# fetched from the internet at login.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

install_asset journald.conf /etc/systemd/journald.conf.d/60-bosh.conf 0644
install_asset coredump.conf /etc/systemd/coredump.conf.d/60-bosh.conf 0644
install_asset system.conf /etc/systemd/system.conf.d/60-bosh.conf 0644
mask_units=(apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service)
if is_ubuntu; then mask_units+=(motd-news.timer motd-news.service); fi
mkdir -p "$CHROOT/etc/systemd/system"
for unit in "${mask_units[@]}"; do
  ln -sfn /dev/null "$CHROOT/etc/systemd/system/$unit"
done
log "journald, coredump and system defaults set; masked ${mask_units[*]}"
