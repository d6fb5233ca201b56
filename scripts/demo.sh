#!/usr/bin/env bash
# Builds certbridge and runs its demo on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCB_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target certbridge
if ./build/certbridge --help | grep -q "certbridge demo"; then
    exec ./build/certbridge demo "$@"
fi
./build/certbridge --version
./build/certbridge --help
