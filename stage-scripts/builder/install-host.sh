#!/usr/bin/env bash
# What a farm builder needs before the `stemcell` CLI can build: Node.js
# (pinned in stage-scripts/data/node.env, its sha256 checked before it is
# unpacked) and the host packages of the groups a farm build uses, from the one
# list, installed by the CLI's own `doctor --install`. Every farm build runs it
# (farm-build.sh), and so does the builder image's Image Builder component, once,
# when it bakes the image; a build on that image finds everything and skips ahead.
#
#   install-host.sh            install what is missing (as root)
#   install-host.sh --check    install nothing; fail unless everything is there
#
# Prints the directory holding `node` on stdout; everything else goes to stderr.
#
# Environment (mirrors, tests); the pinned sha256 is checked whatever they say:
#   STEMCELL_FARM_NODE_URL  where to fetch the pinned Node.js tarball from
#                           (default: NODE_URL of node.env)
#   STEMCELL_FARM_NODE_DIR  where Node.js is installed
#                           (default: /opt/stemcell-farm/node-<NODE_VERSION>)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../data/node.env
source "${root}/stage-scripts/data/node.env"
# The commands a farm build runs: build-os-image (when the request has no OS
# image yet), build, and check of what it built.
readonly BUILDER_GROUPS=(build-os-image build check)
node_dir="${STEMCELL_FARM_NODE_DIR:-/opt/stemcell-farm/node-${NODE_VERSION}}"
node_url="${STEMCELL_FARM_NODE_URL:-${NODE_URL}}"
scratch=""

cleanup() {
  if [[ -n "${scratch}" ]]; then
    rm -rf "${scratch}"
  fi
}
trap cleanup EXIT

fail() {
  echo "install-host.sh: $*" >&2
  exit 1
}

# The directory is named after the version, but say so if something else sits
# there rather than build with it.
node_installed() {
  [[ -e "${node_dir}" ]] || return 1
  local found=""
  if [[ -x "${node_dir}/bin/node" ]]; then
    found="$("${node_dir}/bin/node" --version 2>/dev/null || true)"
  fi
  if [[ "${found}" != "v${NODE_VERSION}" ]]; then
    fail "${node_dir} holds ${found:-no working node}, not Node.js v${NODE_VERSION}; remove it and run again"
  fi
}

# Unpacked beside its final place and renamed into it: a killed install leaves
# no directory that looks complete, and a tarball that is not the pinned one is
# never unpacked.
install_node() {
  mkdir -p "$(dirname "${node_dir}")"
  scratch="$(mktemp -d "${node_dir}.partial-XXXXXX")"
  echo "install-host.sh: fetching Node.js ${NODE_VERSION} from ${node_url}" >&2
  curl --fail --silent --show-error --location --retry 5 --output "${scratch}/node.tar.xz" "${node_url}"
  if ! echo "${NODE_SHA256}  ${scratch}/node.tar.xz" | sha256sum --check --quiet --strict >&2; then
    fail "${node_url} is not Node.js ${NODE_VERSION}: its sha256 is not the one stage-scripts/data/node.env pins"
  fi
  mkdir "${scratch}/node"
  tar -xJf "${scratch}/node.tar.xz" -C "${scratch}/node" --strip-components=1 --no-same-owner
  mv "${scratch}/node" "${node_dir}"
  rm -rf "${scratch}"
  scratch=""
}

main() {
  local check=false
  case "$*" in
    "") ;;
    --check) check=true ;;
    *)
      echo "usage: install-host.sh [--check]" >&2
      exit 2
      ;;
  esac
  # stdout carries only the answer; apt's, curl's and the CLI's chatter go to stderr.
  exec 3>&1 1>&2

  local doctor=(doctor)
  if "${check}"; then
    node_installed || fail "Node.js ${NODE_VERSION} is not installed in ${node_dir}"
  else
    # A fresh instance is still configuring itself (and apt) when the agent comes online.
    if command -v cloud-init >/dev/null; then
      cloud-init status --wait >/dev/null || true
    fi
    node_installed || install_node
    doctor+=(--install)
  fi
  "${node_dir}/bin/node" "${root}/lib/cli/stemcell.cjs" "${doctor[@]}" "${BUILDER_GROUPS[@]}"
  echo "${node_dir}/bin" >&3
}

main "$@"
