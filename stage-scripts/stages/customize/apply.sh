#!/usr/bin/env bash
# Runs the operator's --customize script inside the chroot, after the base
# stages and before hardening of permissions and the final clean-up. Its output
# is the stage log; if it fails, the build fails with that output shown.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

script="${STEMCELL_CUSTOMIZE_SCRIPT:-}"
[[ -n "$script" ]] || fail "no customization script configured (STEMCELL_CUSTOMIZE_SCRIPT is empty)"
[[ -f "$script" ]] || fail "customization script $script does not exist"

mount_chroot_filesystems
inside="/tmp/stemcell-customize"
install -m 0755 "$script" "$CHROOT$inside"
cleanup() {
  rm -f "$CHROOT$inside"
  release_stage_resources
}
trap cleanup EXIT
log "running $script"
chroot_run "$inside"
log "customization script finished"
