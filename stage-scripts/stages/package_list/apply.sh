#!/usr/bin/env bash
# packages.txt of the stemcell: dpkg -l of the image, as upstream ships it.
# And what its SBOMs are made from, which outlives the chroot: the dpkg
# database and the copyright files (the only files the image keeps in
# /usr/share/doc), links as they are.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mkdir -p "$STEMCELL_OUTPUT_DIR"
if dry_run; then record "chroot: dpkg -l"; exit 0; fi
chroot_run env COLUMNS=200 dpkg -l >"$STEMCELL_OUTPUT_DIR/packages.txt"
sbom_root="$STEMCELL_OUTPUT_DIR/sbom-root"
rm -rf "$sbom_root"
mkdir -p "$sbom_root/var/lib/dpkg" "$sbom_root/usr/share"
cp -a "$CHROOT/var/lib/dpkg/status" "$sbom_root/var/lib/dpkg/status"
cp -a "$CHROOT/usr/share/doc" "$sbom_root/usr/share/doc"
log "$(grep -c '^ii' "$STEMCELL_OUTPUT_DIR/packages.txt") packages listed"
