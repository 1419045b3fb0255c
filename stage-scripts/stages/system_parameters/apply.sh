#!/usr/bin/env bash
# What the agent reads about the stemcell it runs on.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mkdir -p "$CHROOT/var/vcap/bosh/etc"
printf '%s\n' "$STEMCELL_INFRASTRUCTURE" | write_file /var/vcap/bosh/etc/infrastructure 0644
printf '%s\n' "$STEMCELL_OS" | write_file /var/vcap/bosh/etc/operating_system 0644
printf '%s\n' "$STEMCELL_VERSION" | write_file /var/vcap/bosh/etc/stemcell_version 0644
log "$STEMCELL_INFRASTRUCTURE, $STEMCELL_OS, $STEMCELL_VERSION"
