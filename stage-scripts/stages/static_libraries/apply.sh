#!/usr/bin/env bash
# The static libraries in the image (/var/vcap/bosh/etc/static_libraries_list),
# which upstream stemcells list for the same clean-up as the dev tools.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mkdir -p "$CHROOT/var/vcap/bosh/etc"
(cd "$CHROOT" && find usr/lib usr/lib64 lib -xdev -type f -name '*.a' 2>/dev/null | sed 's|^|/|' | sort) >"$CHROOT/var/vcap/bosh/etc/static_libraries_list"
chmod 0644 "$CHROOT/var/vcap/bosh/etc/static_libraries_list"
log "$(wc -l <"$CHROOT/var/vcap/bosh/etc/static_libraries_list") static libraries listed"
