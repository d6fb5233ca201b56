#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds
# certbridge twice (release and AddressSanitizer+UndefinedBehaviorSanitizer)
# and runs every test in both builds (unit, component, integration against a
# real Kafka broker, the reference CA and a real Schema Registry: Apicurio
# Registry, built once by install-deps.sh into ~/.cache/certbridge).
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --test

jobs=$(nproc)
run_suite() {
    local dir=$1; shift
    cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure --timeout 900 -j 2)
}

echo "== release build =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCB_TESTS=ON

echo "== sanitizer build (ASan + UBSan) =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCB_SANITIZE=ON -DCB_TESTS=ON

echo "== fuzz (libFuzzer + ASan + UBSan, 20 s per decoder) =="
scripts/fuzz.sh 20

echo "test.sh: all suites passed"
