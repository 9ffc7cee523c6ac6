#!/usr/bin/env bash
# Build stage 09's HTTP parser fuzzer natively with clang (libFuzzer, AddressSanitizer,
# UndefinedBehaviorSanitizer) and run it for a bounded time: tests/fuzz/run.sh [SECONDS]
# (default 60). Exit code non-zero, and a crash-* file in build/fuzz/, if it finds anything;
# such an input then becomes a case in tests/unit/test_http.cpp.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-60}
out="$repo/build/fuzz"
mkdir -p "$out/corpus"
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$repo" "$repo/tests/fuzz/fuzz_http.cpp" "$repo/stages/09_http_server/http.cpp" \
  -o "$out/fuzz_http"
# The first folder collects what the fuzzer learns; the committed seeds are only read.
"$out/fuzz_http" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" \
  "$out/corpus" "$repo/tests/fuzz/corpus"
