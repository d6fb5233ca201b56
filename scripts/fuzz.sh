#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for a
# while on a copy of its committed seed corpus (tests/fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 20 s, every target
#
# A crash stops the script with the target's non-zero exit and leaves the
# crashing input (crash-*) in the current directory. New corpus entries go to
# a temporary folder, never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_avro_event fuzz_confluent_event fuzz_outcome
                                     fuzz_json_event fuzz_registry_response fuzz_config
                                     fuzz_ca_answer fuzz_json fuzz_orgreg fuzz_approval)

cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCB_FUZZ=ON -DCB_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz --target cb_fuzz

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
    echo "== $t: ${secs} s =="
    mkdir -p "$work/$t"
    rc=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        build-fuzz/tests/fuzz/$t -max_total_time="$secs" -print_final_stats=1 \
        "$work/$t" "tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1 || rc=$?
    grep -E "DONE|stat::number_of_executed_units" "$work/$t.log" || true
    if [ "$rc" != 0 ]; then
        tail -60 "$work/$t.log" >&2
        echo "fuzz.sh: $t failed (exit $rc)" >&2
        exit 1
    fi
done
echo "fuzz.sh: all targets ran ${secs} s without a crash"
