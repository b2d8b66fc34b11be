#!/usr/bin/env bash
# Installs what building and testing imwatch needs on a fresh Debian 12
# machine, from Debian's packages only. Idempotent: installs only what is
# missing, and does not touch the network when nothing is.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  # tests/tidy.sh, stage 1 of tests/run.sh
  clang-tidy
  libboost-program-options-dev libspdlog-dev libfmt-dev libgloox-dev libgnutls28-dev libidn-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests: free(1) for the live comparison, a real XMPP server and client,
  # memcheck for the integration flow (tests/soak/valgrind_flow.sh)
  procps openssl prosody python3-slixmpp ejabberd valgrind
  # tests/filesystem_e2e_test.cpp: a FUSE filesystem that never answers statfs
  # (fusepy drives libfuse2, whose helper is fuse's fusermount; root only), and
  # a loop-mounted ext4 image
  python3-fusepy fuse e2fsprogs util-linux
  # tests/check_runner_test.cpp runs the real check_dummy and check_procs
  monitoring-plugins-basic
)
# Extra sets, by name: `install-deps.sh fuzz package`
for extra in "$@"; do
  case "$extra" in
    fuzz) packages+=(clang libclang-rt-14-dev) ;;
    # dh-sequence-installsysusers is a virtual package that debhelper provides:
    # dpkg-query never reports it, so it is not listed here.
    package) packages+=(debhelper dpkg-dev lintian blhc piuparts debootstrap systemd-container systemd) ;;
    # tests/bench/footprint.sh compares the agent with these two.
    footprint) packages+=(monit collectd-core) ;;
    *) echo "install-deps.sh: unknown set '$extra' (fuzz, package, footprint)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# Services from these packages must not start on the build machine: the tests
# start their own private instances on loopback.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  created_policy=1
fi
trap '[ -z "$created_policy" ] || $sudo rm -f "$policy"' EXIT
$sudo apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
