#!/usr/bin/env bash
# Members of bosh_sudoers (vcap, and the users bosh ssh creates) may run
# anything without a password; every session gets a pty and is logged.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package sudo
install_asset bosh /etc/sudoers.d/bosh 0440
chroot_run visudo --check --strict --file=/etc/sudoers.d/bosh
log "sudoers for bosh_sudoers installed and validated"
