#!/usr/bin/env bash
# The OS image the stemcell starts from, unpacked into an empty $CHROOT (in
# memory when the host has it to spare) with owners, modes and file
# capabilities as built.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

[[ -f "$STEMCELL_OS_IMAGE" ]] || fail "OS image $STEMCELL_OS_IMAGE does not exist"
fresh_chroot
host_run tar --extract --directory="$CHROOT" --use-compress-program=pigz --numeric-owner \
  --xattrs --xattrs-include='security.capability' --file="$STEMCELL_OS_IMAGE"
block_service_starts
log "extracted $STEMCELL_OS_IMAGE"
