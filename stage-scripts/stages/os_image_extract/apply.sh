#!/usr/bin/env bash
# The OS image the stemcell starts from, unpacked into an empty $CHROOT with
# owners, modes and file capabilities as built.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

[[ -f "$STEMCELL_OS_IMAGE" ]] || fail "OS image $STEMCELL_OS_IMAGE does not exist"
if ! dry_run && findmnt --list --noheadings --output TARGET | grep -q "^$CHROOT/"; then
  fail "something is still mounted below $CHROOT; unmount it before extracting again"
fi
rm -rf --one-file-system "$CHROOT"
mkdir -p "$CHROOT"
host_run tar --extract --directory="$CHROOT" --use-compress-program=pigz --numeric-owner \
  --xattrs --xattrs-include='security.capability' --file="$STEMCELL_OS_IMAGE"
block_service_starts
log "extracted $STEMCELL_OS_IMAGE"
