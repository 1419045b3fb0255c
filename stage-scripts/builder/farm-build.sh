#!/usr/bin/env bash
# One farm build on a builder instance, as the runbook's BuildOnHost step
# starts it from the code asset it unpacked: what the host needs (install-host.sh:
# Node.js, pinned and verified, and the host packages of the one list; a builder
# image has them already, so this skips ahead), then `stemcell farm-build`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The farm's region, from the instance metadata (IMDSv2): the CLI signs its calls for it.
instance_region() {
  local token
  token="$(curl --fail --silent --show-error --request PUT --header 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)"
  curl --fail --silent --show-error --header "X-aws-ec2-metadata-token: ${token}" http://169.254.169.254/latest/meta-data/placement/region
}

main() {
  if [[ $# -ne 1 ]]; then
    echo "usage: farm-build.sh s3://BUCKET/builds/BUILD/request.json" >&2
    exit 2
  fi
  local node_bin
  node_bin="$(bash "${root}/stage-scripts/builder/install-host.sh")"
  AWS_REGION="$(instance_region)"
  export AWS_REGION
  export PATH="${node_bin}:${PATH}"
  exec node "${root}/lib/cli/stemcell.cjs" farm-build --request "$1"
}

main "$@"
