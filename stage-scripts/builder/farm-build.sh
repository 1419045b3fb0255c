#!/usr/bin/env bash
# One farm build on a builder instance, as the runbook's BuildOnHost step
# starts it from the code asset it unpacked: Node.js (pinned and verified),
# the host packages of the one list, then `stemcell farm-build`. Everything it
# installs is kept, so a builder image that has them already skips ahead.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../data/node.env
source "${root}/stage-scripts/data/node.env"
node_dir="/opt/stemcell-farm/node-${NODE_VERSION}"
scratch=""

cleanup() {
  if [[ -n "${scratch}" ]]; then
    rm -rf "${scratch}"
  fi
}
trap cleanup EXIT

# Unpacked beside its final place and renamed into it: a killed install leaves
# no directory that looks complete.
install_node() {
  if [[ -x "${node_dir}/bin/node" ]]; then
    return
  fi
  mkdir -p "$(dirname "${node_dir}")"
  scratch="$(mktemp -d "${node_dir}.partial-XXXXXX")"
  curl --fail --silent --show-error --location --retry 5 --output "${scratch}/node.tar.xz" "${NODE_URL}"
  echo "${NODE_SHA256}  ${scratch}/node.tar.xz" | sha256sum --check --quiet
  mkdir "${scratch}/node"
  tar -xJf "${scratch}/node.tar.xz" -C "${scratch}/node" --strip-components=1 --no-same-owner
  mv "${scratch}/node" "${node_dir}"
  rm -rf "${scratch}"
  scratch=""
}

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
  # A fresh instance is still configuring itself (and apt) when the agent comes online.
  if command -v cloud-init >/dev/null; then
    cloud-init status --wait >/dev/null || true
  fi
  install_node
  AWS_REGION="$(instance_region)"
  export AWS_REGION
  export PATH="${node_dir}/bin:${PATH}"
  local cli="${root}/lib/cli/stemcell.cjs"
  node "${cli}" doctor --install build-os-image build check
  exec node "${cli}" farm-build --request "$1"
}

main "$@"
