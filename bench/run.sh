#!/usr/bin/env bash
# The benchmark in one command (README "Benchmarks", bench/RESULTS.md):
#
#   bench/run.sh [--build DIR] [bench.py options]
#
# Builds a Release build in build-bench/ (unless --build names one), makes a
# Python venv with confluent-kafka, requests, fastavro and matplotlib under
# ~/.cache/certbridge/bench-venv, fetches the Kafka broker jars, then runs
# bench/bench.py: a real Kafka broker, the reference CA, certbridge over the
# matrix CA latency {0, 20} ms x ca.concurrency {1, 8, 32, 128} on a
# 100,000-event backlog, beside the plain Python loop (bench/python_loop.py).
# It writes bench/results.json, bench/RESULTS.md (between its markers) and
# bench/throughput.png, and stops everything it started.
# Options: bench/bench.py --help (e.g. --events 20000 for a quicker run).
# BENCH_ARGS adds options (for `cmake --build DIR --target bench`).
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
# shellcheck disable=SC2206
args+=(${BENCH_ARGS:-})

# Debian packages, Java and Maven for the broker (as the tests need them)
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || ! command -v java >/dev/null \
    || ! command -v mvn >/dev/null || ! pkg-config --exists rdkafka cmocka 2>/dev/null \
    || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    scripts/install-deps.sh --test
fi

if [ -z "$build" ]; then
    build="$root/build-bench"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" --target certbridge certbridge-refca certbridge-refca-load cbtool
fi

cache=${CERTBRIDGE_CACHE:-$HOME/.cache/certbridge}
venv="$cache/bench-venv"
if ! "$venv/bin/python" -c 'import confluent_kafka, requests, fastavro, matplotlib, aiohttp, uvloop' 2>/dev/null; then
    echo "bench: making the Python venv $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$root/bench/requirements.txt"
fi
python3 tests/harness/kafka_harness.py fetch

exec "$venv/bin/python" "$root/bench/bench.py" --build "$build" \
    --command "bench/run.sh${args[*]:+ ${args[*]}}" "${args[@]}"
