#!/usr/bin/env bash
# The benchmark command: build what it needs, run the ladder, rewrite the report.
#
#   bench/run.sh                                   the whole ladder (about 35 minutes here, on
#                                                  2 cores); rewrites notes/benchmarks.{md,png,json}
#   bench/run.sh --stage 07 --connections 1000     part of it (see bench/run.py --help)
#   bench/run.sh --group native                    only the programs that run without Wine
#
# What one server costs, at one or two points (a minute or so; nothing rewritten). Each run
# prints its rate, fairness, worst round trip, then per round trip the server's and the load
# generator's CPU microseconds and the server's system calls; results in build/bench/:
#   bench/run.sh --group native --stage "08 io_uring" --stage "asio native, 1" \
#                --connections 100 --connections 1000 --size 64 --no-setup --no-http
#   (--stage is the start of a name: "08 io_uring" is the twin with its default workers and
#   with one; --linux-dir DIR takes the twins from another build tree; --runs N, 3 by default)
#
# Every connection served? Stage 07, 08 and 10 (when built) side by side at 1,000 connections,
# 64 B, 3 s windows after the warm-up, three runs; an older build as an extra server by path:
#   bench/run.sh --quick-fairness --extra old08=/work/old/stage08_async_echo.exe
#   (columns: round trips/s, slowest connection's share of the mean, connections with no round
#   trip in the window, worst round trip; --stage 07 narrows it; nothing in notes/ rewritten)
#
# Pinning: with 2 cores or more the load generator runs on core 0 and the native servers on the
# others (taskset); --pin all pins the Windows programs under Wine too (wineserver with them),
# --pin none nothing. System calls are counted with perf (raw_syscalls:sys_enter) over the
# measured window only; --no-syscalls skips it.
#
# Installs what is missing first (apt, needs root or sudo): the packages of scripts/test.sh,
# plus g++ and libasio-dev (the load generator and the asio peers, native and for Windows),
# python3-matplotlib (the plot), wrk (the HTTP load for stage 09), linux-perf (system calls per
# round trip) and util-linux (taskset).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

PACKAGES+=(g++ libasio-dev python3-matplotlib wrk linux-perf util-linux)
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
