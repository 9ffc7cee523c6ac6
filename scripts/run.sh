#!/usr/bin/env bash
# Build and run one stage under Wine, in the foreground, on port 8080.
#
#   scripts/run.sh              the final IOCP server, stage 07
#   scripts/run.sh 01           stage 01
#   scripts/run.sh 01 --port 0  stage 01, with its own arguments after the number
#   scripts/run.sh linux/07     the Linux twin of stage 07 (stages/linux/07_epoll), natively
#
# Talk to it from another terminal (nc 127.0.0.1 8080); Ctrl+C stops it (exit code 0).
# Installs what is missing first (apt, needs root or sudo); see scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stage=""
if [ $# -gt 0 ] && [[ "$1" =~ ^(linux/)?[0-9][0-9]$ ]]; then
  stage=$1
  shift
fi

install_missing_packages

if [[ "$stage" == linux/* ]]; then
  build_native
  number=${stage#linux/}
  program=$(ls "$NATIVE_BUILD_DIR"/bin/stage"$number"_* 2>/dev/null | head -n 1 || true)
  [ -n "$program" ] || { echo "no Linux twin $number in $NATIVE_BUILD_DIR/bin" >&2; exit 2; }
  log "running $(basename "$program") $* (Ctrl+C to stop)"
  # exec: Ctrl+C in this terminal sends SIGINT to the program itself (no Wine in between); its
  # exit code becomes this script's.
  exec "$program" "$@"
fi

build_all

stage=${stage:-$DEFAULT_STAGE}
exe=$(ls "$BUILD_DIR"/bin/stage"$stage"_*.exe 2>/dev/null | head -n 1 || true)
[ -n "$exe" ] || { echo "no stage $stage in $BUILD_DIR/bin" >&2; exit 2; }

log "running $(basename "$exe") $* (Ctrl+C to stop)"
# exec: Ctrl+C in this terminal reaches Wine directly, which hands it to the program as
# CTRL_C_EVENT; the program's exit code becomes this script's.
exec "$BUILD_DIR/wine-run" "$exe" "$@"
