#!/usr/bin/env bash
# The agent's configuration for the infrastructure: where it finds its
# settings (AWS instance metadata with IMDSv2 tokens, OpenStack config drive
# then metadata service, vSphere CD-ROM) and how it resolves disk paths.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

settings="$ASSETS/$STEMCELL_INFRASTRUCTURE.json"
[[ -f "$settings" ]] || fail "no agent settings for $STEMCELL_INFRASTRUCTURE in $ASSETS"
mkdir -p "$CHROOT/var/vcap/bosh"
install_asset "$STEMCELL_INFRASTRUCTURE.json" /var/vcap/bosh/agent.json 0644
log "agent.json for $STEMCELL_INFRASTRUCTURE"
