#!/usr/bin/env bash
# Build and run one stage under Wine, in the foreground, on port 8080.
#
#   scripts/run.sh              the final IOCP server, stage 07
#   scripts/run.sh 01           stage 01
#   scripts/run.sh 01 --port 0  stage 01, with its own arguments after the number
#   scripts/run.sh linux/07     the Linux twin of stage 07 (stages/linux/07_epoll), natively
#
# Talk to it from another terminal (nc 127.0.0.1 8080); Ctrl+C stops it (exit code 0).
# Builds that one stage only. Installs what is missing first (apt, needs root or sudo): what
# building and running it needs, not the test tools (scripts/test.sh); see scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stage=""
if [ $# -gt 0 ] && [[ "$1" =~ ^(linux/)?[0-9][0-9]$ ]]; then
  stage=$1
  shift
fi

stage=${stage:-$DEFAULT_STAGE}
target=$(stage_target "$stage")

if [[ "$stage" == linux/* ]]; then
  number=${stage#linux/}
  [ -n "$target" ] || { echo "no Linux twin $number in $REPO/stages/linux" >&2; exit 2; }
  packages=("${NATIVE_RUN_PACKAGES[@]}")
  [ "$number" != 08 ] || packages+=("${URING_PACKAGES[@]}")
  install_missing_packages "${packages[@]}"
  build_targets "$NATIVE_PRESET" "$target"
  program=$NATIVE_BUILD_DIR/bin/$target
  log "running $target $* (Ctrl+C to stop)"
  # exec: Ctrl+C in this terminal sends SIGINT to the program itself (no Wine in between); its
  # exit code becomes this script's.
  exec "$program" "$@"
fi

[ -n "$target" ] || { echo "no stage $stage in $REPO/stages" >&2; exit 2; }
install_missing_packages "${RUN_PACKAGES[@]}"
build_targets "$PRESET" "$target"
exe=$BUILD_DIR/bin/$target.exe

log "running $target.exe $* (Ctrl+C to stop)"
# exec: Ctrl+C in this terminal reaches Wine directly, which hands it to the program as
# CTRL_C_EVENT; the program's exit code becomes this script's.
exec "$BUILD_DIR/wine-run" "$exe" "$@"
