#!/usr/bin/env bash
# The soak in one command (README "Benchmarks" > "Soak", bench/SOAK.md):
#
#   bench/soak.sh [--build DIR] [soak.py options]
#
# Builds a Release build in build-bench/ (unless --build names one), makes the
# bench's Python venv (confluent-kafka, matplotlib: bench/requirements.txt)
# under ~/.cache/certbridge/bench-venv, fetches the Kafka broker jars, then
# runs bench/soak.py: its own Kafka broker, the reference CA with faults on,
# and certbridge at a paced 50 events/s for 30 minutes, sampled every 10 s;
# then the exactly-once check and the flatness verdict (exit 1 on any FAIL).
# A run of 30 minutes or more writes bench/soak-results.json, bench/soak.png,
# the "30-minute run" section of bench/SOAK.md and README's soak figures.
# Options: bench/soak.py --help (e.g. --minutes 3 for a validation run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$2; shift 2 ;;
        --build=*) build=${1#--build=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

# Debian packages, Java and Maven for the broker (as the tests need them)
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || ! command -v java >/dev/null \
    || ! command -v mvn >/dev/null || ! pkg-config --exists rdkafka cmocka 2>/dev/null \
    || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    scripts/install-deps.sh --test
fi

if [ -z "$build" ]; then
    build="$root/build-bench"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" --target certbridge certbridge-refca cbtool
fi

cache=${CERTBRIDGE_CACHE:-$HOME/.cache/certbridge}
venv="$cache/bench-venv"
if ! "$venv/bin/python" -c 'import confluent_kafka, requests, fastavro, matplotlib' 2>/dev/null; then
    echo "soak: making the Python venv $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$root/bench/requirements.txt"
fi
python3 tests/harness/kafka_harness.py fetch

exec "$venv/bin/python" "$root/bench/soak.py" --build "$build" \
    --command "bench/soak.sh${args[*]:+ ${args[*]}}" "${args[@]}"
