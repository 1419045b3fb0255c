#!/usr/bin/env bash
# cron for root only: /etc/cron.allow names root, the crontabs are private.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package cron
write_file /etc/cron.allow 0600 <<<'root'
write_file /etc/at.allow 0600 <<<'root'
rm -f "$CHROOT/etc/cron.deny" "$CHROOT/etc/at.deny"
chmod 0600 "$CHROOT/etc/crontab"
for dir in cron.d cron.hourly cron.daily cron.weekly cron.monthly; do
  mkdir -p "$CHROOT/etc/$dir"
  chmod 0700 "$CHROOT/etc/$dir"
done
chroot_run systemctl enable cron.service
log "cron restricted to root"
