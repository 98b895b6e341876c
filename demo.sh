#!/usr/bin/env bash
# The demo: the seed's three TrafficControl examples on a private Open
# vSwitch with real packets (see tests/src/demo.rs). Needs root (network
# namespaces, OVS); installs what is missing first.
#
# ./demo.sh --beside-ovn: the same beside a real OVN that programs br-int
# (ovn-northd, ovn-controller), the agent in shared mode.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root (it creates network namespaces and starts Open vSwitch)" >&2
  exit 2
fi

missing=()
tools=(ovs-vswitchd:openvswitch-switch ip:iproute2 ping:iputils-ping ethtool:ethtool tcpdump:tcpdump nft:nftables)
case "${1:-}" in
  "") ;;
  --beside-ovn) tools+=(ovn-northd:ovn-central ovn-controller:ovn-host iperf3:iperf3) ;;
  *) echo "usage: ./demo.sh [--beside-ovn]" >&2; exit 2 ;;
esac
for tool in "${tools[@]}"; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo.sh: installing ${missing[*]} (Open vSwitch and the tools the demo drives)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v kubectl >/dev/null; then
  echo "demo.sh: kubectl is missing: install kubectl v1.32 (https://kubernetes.io/docs/tasks/tools/) into /usr/local/bin" >&2
  exit 2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tc-ovs/target}"
echo "demo.sh: building tc-agent, tc-devcluster and the demo" >&2
cargo build -q -p actors --bin tc-agent -p devcluster --bin tc-devcluster -p tests --bin demo
exec "$CARGO_TARGET_DIR/debug/demo" "$@"
