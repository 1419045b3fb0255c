#!/usr/bin/env bash
# The OS image the stemcell starts from, unpacked into an empty $CHROOT (in
# memory when the host has it to spare) with owners, modes and file
# capabilities as built. STEMCELL_OS_IMAGE is the plain tar the CLI's reader
# vetted and decompressed (lib/stemcell/os-image.ts), so no decompression here.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

[[ -f "$STEMCELL_OS_IMAGE" ]] || fail "OS image $STEMCELL_OS_IMAGE does not exist"
fresh_chroot
host_run tar --extract --directory="$CHROOT" --numeric-owner \
  --xattrs --xattrs-include='security.capability' --file="$STEMCELL_OS_IMAGE"
block_service_starts
log "extracted $STEMCELL_OS_IMAGE"
