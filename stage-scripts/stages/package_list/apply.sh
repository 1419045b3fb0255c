#!/usr/bin/env bash
# packages.txt of the stemcell: dpkg -l of the image, as upstream ships it.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mkdir -p "$STEMCELL_OUTPUT_DIR"
if dry_run; then record "chroot: dpkg -l"; exit 0; fi
chroot_run env COLUMNS=200 dpkg -l >"$STEMCELL_OUTPUT_DIR/packages.txt"
log "$(grep -c '^ii' "$STEMCELL_OUTPUT_DIR/packages.txt") packages listed"
