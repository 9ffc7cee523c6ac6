#!/usr/bin/env bash
# The benchmark command: build what it needs, run the ladder, rewrite the report.
#
#   bench/run.sh                                   the whole ladder (under 15 minutes here);
#                                                  rewrites notes/benchmarks.{md,png,json}
#   bench/run.sh --stage 07 --connections 1000     part of it (see bench/run.py --help)
#   bench/run.sh --group native                    only the programs that run without Wine
#
# Installs what is missing first (apt, needs root or sudo): the packages of scripts/test.sh,
# plus g++ and libasio-dev (the load generator and the asio peers, native and for Windows),
# python3-matplotlib (the plot) and wrk (the HTTP load for stage 09).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

PACKAGES+=(g++ libasio-dev python3-matplotlib wrk)
install_missing_packages
build_all   # the stages, and the asio peer for Windows now that asio is installed

log "building the native load generator and asio peer (build/bench-native)"
cmake -S "$REPO/bench" -B "$REPO/build/bench-native" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$REPO/build/bench-native" -j 2

# The Linux twins of the stages: native, no Wine, built by the linux-native preset (the build
# tree that scripts/test.sh uses too) into build/linux-native/bin. bench/run.py skips, with a
# line, any that is not there.
build_native

# One descriptor per connection on the client side: 10,000 connections need more than 1,024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log "running the ladder"
cd "$REPO" && exec /usr/bin/python3 bench/run.py "$@"
