#!/usr/bin/env bash
# The blobstore CLIs the agent shells out to (bosh-blobstore-dav, -s3, -gcs,
# -az), from --blobstore-cli; each lands in /var/vcap/bosh/bin under its own
# name. Nothing given, nothing installed: directors using the agent's built-in
# clients need none.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

installed=()
for cli in ${STEMCELL_BLOBSTORE_CLIS:-}; do
  name="$(basename "$cli")"
  [[ "$name" == bosh-blobstore-* ]] || fail "blobstore CLI $cli must be named bosh-blobstore-<kind> (dav, s3, gcs, az)"
  [[ -f "$cli" ]] || fail "blobstore CLI $cli does not exist"
  mkdir -p "$CHROOT/var/vcap/bosh/bin"
  host_run install -m 0755 -o 0 -g 0 "$cli" "$CHROOT/var/vcap/bosh/bin/$name"
  installed+=("$name")
done
log "${installed[*]:-no blobstore CLIs given}"
