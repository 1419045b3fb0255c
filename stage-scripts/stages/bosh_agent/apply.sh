#!/usr/bin/env bash
# The BOSH agent at /var/vcap/bosh/bin/bosh-agent, supervised by runit as on
# upstream stemcells (systemd starts runsvdir on /var/vcap/bosh/service, runsv
# keeps the agent running).
# From --agent-binary, or else the pinned release in
# stage-scripts/data/bosh-agent.env, refused unless size and sha256 match.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

agent_file() {
  if [[ -n "${STEMCELL_AGENT_BINARY:-}" ]]; then
    [[ -f "$STEMCELL_AGENT_BINARY" ]] || fail "agent binary $STEMCELL_AGENT_BINARY does not exist"
    printf '%s\n' "$STEMCELL_AGENT_BINARY"
    return
  fi
  # shellcheck source=../../data/bosh-agent.env
  source "$STEMCELL_LIB/../data/bosh-agent.env"
  local download="$STEMCELL_WORK/bosh-agent-$BOSH_AGENT_VERSION"
  if [[ ! -f "$download" ]]; then
    host_run curl --fail --location --silent --show-error ${STEMCELL_PROXY:+--proxy "$STEMCELL_PROXY"} \
      --output "$download.partial" "$BOSH_AGENT_URL" ||
      fail "could not download bosh-agent $BOSH_AGENT_VERSION from $BOSH_AGENT_URL; pass --agent-binary PATH with a bosh-agent you have"
    dry_run && { printf '%s\n' "$download"; return; }
    mv "$download.partial" "$download"
  fi
  verify_agent "$download" "$BOSH_AGENT_SIZE" "$BOSH_AGENT_SHA256"
  printf '%s\n' "$download"
}

verify_agent() {
  local file="$1" size="$2" sha256="$3" actual
  actual="$(stat --format=%s "$file")"
  [[ "$actual" == "$size" ]] || { rm -f "$file"; fail "bosh-agent download is $actual bytes, expected $size; removed it"; }
  actual="$(sha256sum "$file" | cut -d' ' -f1)"
  [[ "$actual" == "$sha256" ]] || { rm -f "$file"; fail "bosh-agent sha256 is $actual, expected $sha256; removed it"; }
}

binary="$(agent_file)"
for dir in bosh/bin bosh/etc bosh/log data store sys/log jobs packages monit/job; do
  mkdir -p "$CHROOT/var/vcap/$dir"
done
dry_run || install -m 0755 -o 0 -g 0 "$binary" "$CHROOT/var/vcap/bosh/bin/bosh-agent"
install_asset run /etc/sv/agent/run 0755
install_asset log-run /etc/sv/agent/log/run 0755
# A service directory of our own: the distribution's /etc/service holds
# services (ssh, syslog) for runit-as-init systems that systemd already runs.
mkdir -p "$CHROOT/var/vcap/bosh/service"
ln -sfn /etc/sv/agent "$CHROOT/var/vcap/bosh/service/agent"
install_asset runit.service /etc/systemd/system/runit.service 0644
chroot_run systemctl enable runit.service
log "bosh-agent from $binary, supervised by runit"
