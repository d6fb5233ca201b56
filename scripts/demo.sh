#!/usr/bin/env bash
# Builds certbridge and its reference CA, then runs `certbridge demo`: the whole
# flow on embedded defaults (in-process Kafka, a local reference CA issuing real
# X.509 certificates, the sample reorganization of Đồng Nai province, 2025).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
tests=()
pkg-config --exists cmocka || tests=(-DCB_TESTS=OFF) # test dependencies come with test.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${tests[@]}" >/dev/null
cmake --build build -j "$(nproc)" --target certbridge certbridge-refca
exec ./build/certbridge demo "$@"
