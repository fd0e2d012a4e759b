#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing.
# Usage: ci/deps.sh build|test|fuzz|bench|broker-bench|loadgen-test|coverage|broker-test|integration|conformance ...
set -euo pipefail
want=()
for what in "$@"; do
  case "$what" in
    build)    want+=(make gcc pkg-config libssl-dev) ;;
    test)     want+=(make gcc pkg-config libssl-dev libcmocka-dev libjansson-dev
                     python3 python3-jsonschema) ;;
    fuzz)     want+=(clang libclang-rt-14-dev zip python3) ;;
    bench)    want+=(libwslay-dev) ;;
    broker-bench) want+=(make gcc pkg-config libssl-dev mosquitto python3) ;;
    loadgen-test) want+=(make gcc pkg-config libssl-dev python3 python3-pytest) ;;
    coverage) want+=(gcovr) ;;
    broker-test) want+=(python3 python3-pytest openssl) ;;
    # integration tests: independent clients and a reference broker, a real browser
    integration) want+=(python3 python3-pytest python3-paho-mqtt openssl mosquitto
                        mosquitto-clients chromium)
                 command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm) ;;
    conformance) want+=(python3 python3-pytest python3-jsonschema python3-hypothesis python3-lxml python3-pyflakes openssl chromium mosquitto) ;;
    *) echo "deps.sh: unknown set '$what'" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
