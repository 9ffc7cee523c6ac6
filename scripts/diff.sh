#!/usr/bin/env bash
# Show what a stage changes: the diff between stage NN and the stage it builds on (its base,
# named in the header of its main.cpp: "Base: stage MM"), or, for a Linux twin, between it and
# its Windows twin ("Twin of: stage MM").
#
#   scripts/diff.sh 07          stages/05_iocp_basics -> stages/07_iocp_server
#   scripts/diff.sh linux/08    stages/08_async_echo/main.cpp -> stages/linux/08_io_uring/main.cpp
#   scripts/diff.sh 07 --stat   any further arguments go to git diff
#
# Exit code: 0 whatever the diff holds (git diff --no-index says 1 when files differ); 2 when
# the stage is unknown.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2

usage() { echo "usage: scripts/diff.sh NN|linux/NN [git diff options]" >&2; exit 2; }
[ $# -ge 1 ] || usage
stage=$1
shift

if [[ "$stage" =~ ^linux/([0-9][0-9])$ ]]; then
  folder=$(ls -d stages/linux/"${BASH_REMATCH[1]}"_* 2>/dev/null | head -n 1)
  [ -n "$folder" ] || { echo "no Linux twin ${BASH_REMATCH[1]} in stages/linux" >&2; exit 2; }
  pattern='Twin of: stage ([0-9][0-9])'
elif [[ "$stage" =~ ^[0-9][0-9]$ ]]; then
  folder=$(ls -d stages/"$stage"_* 2>/dev/null | head -n 1)
  [ -n "$folder" ] || { echo "no stage $stage in stages/" >&2; exit 2; }
  pattern='Base: stage ([0-9][0-9])'
else
  usage
fi

header=$(head -n 12 "$folder/main.cpp")
if [[ ! "$header" =~ $pattern ]]; then
  echo "$folder/main.cpp names no base (it is the first stage)" >&2
  exit 0
fi
base=$(ls -d stages/"${BASH_REMATCH[1]}"_* | head -n 1)

if [[ "$folder" == stages/linux/* ]]; then
  old="$base/main.cpp"; new="$folder/main.cpp"
else
  old="$base"; new="$folder"
fi
echo "# $new against its base $old" >&2
git diff --no-index "$@" "$old" "$new"
[ $? -le 1 ] || exit 2
exit 0
