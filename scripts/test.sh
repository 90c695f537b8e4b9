#!/usr/bin/env bash
# Runs Heaven's whole test suite on a fresh Debian machine with the Swift toolchain.
# Installs, with apt-get, the system packages the tests use:
#   bubblewrap      - the sandbox of `isolation: sandbox` tasks
#   openssh-server  - private sshd daemons for the tests of SSH sites
#   slurm-wlm munge - a private single-node Slurm cluster for the tests of Slurm sites
#   iproute2        - network namespaces: SSH hosts whose link the tests cut
#   curl            - the HTTP client of the tests of `heaven serve`
# Usage: scripts/test.sh [extra `swift test` arguments, e.g. --filter Crash]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(bubblewrap openssh-server slurm-wlm munge iproute2 curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  # No service may start on its own (openssh-server would start a system sshd): the
  # tests start, and stop, their own.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $sudo rm -f "$policy"
  trap - EXIT
fi

# Whatever a crashed test run left of the testbed goes, whatever happens: Slurm
# clusters, sshd hosts, network namespaces and the blackhole route of their range.
cleanup() {
  set +e
  tmp=${TMPDIR:-/tmp}
  for d in "$tmp"/heaven-slurm-*; do
    [ -d "$d" ] && bash scripts/testbed/slurm-cluster.sh stop "$d" && rm -rf "$d"
  done
  for p in "$tmp"/heaven-sshd-*/sshd.pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
  done
  rm -rf "$tmp"/heaven-sshd-*
  if command -v ip >/dev/null; then
    for ns in $(ip netns list 2>/dev/null | awk '/^hv/ {print $1}'); do ip netns del "$ns" 2>/dev/null; done
    ip route del blackhole 10.200.0.0/16 2>/dev/null
  fi
  return 0
}
if [ "$(id -u)" -eq 0 ]; then trap cleanup EXIT; fi

export SWIFT_DETERMINISTIC_HASHING=1
swift build --build-tests
swift test --skip-build "$@"
