#!/usr/bin/env bash
# Build everything and run every test: the Catch2 unit tests (CTest: the Windows stages' under
# Wine, the Linux twins' natively), a bounded run of the HTTP parser's fuzzer (FUZZ_SECONDS,
# default 60), and the pytest suite (client tests against every built stage — the Windows stages
# under Wine, their Linux twins natively — the harness's own tests, the notes check). Arguments
# go to pytest, e.g. scripts/test.sh --stage 01 -k echo, or --stage linux/07
#
#   scripts/test.sh --exe PATH --as NN   your own server in stage NN's place (README, "Test your
#                                        own server"): only the client tests of stage NN's row,
#                                        against PATH; nothing is built, no unit tests, no fuzzer
#
# Installs what is missing first (apt, needs root or sudo); see scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --exe PATH: the path made absolute (pytest runs from the repository, you may not be there).
own_program=""
pytest_args=()
previous=""
for arg in "$@"; do
  if [ "$previous" = "--exe" ]; then
    own_program=$(realpath -m -- "$arg")
    arg=$own_program
  elif [[ $arg == --exe=* ]]; then
    own_program=$(realpath -m -- "${arg#--exe=}")
    arg="--exe=$own_program"
  fi
  pytest_args+=("$arg")
  previous=$arg
done

install_missing_packages

if [ -n "$own_program" ]; then
  if [[ ${own_program,,} == *.exe ]] && [ ! -x "$BUILD_DIR/wine-run" ]; then
    log "configuring build/$PRESET, for the wine-run script that runs a .exe"
    cmake --preset "$PRESET" -S "$REPO" >/dev/null
  fi
  log "client tests (pytest) against $own_program"
  cd "$REPO"
  exec /usr/bin/python3 -m pytest tests --build-dir "$BUILD_DIR" "${pytest_args[@]}"
fi

build_all
build_native

status=0
# Every Linux twin must be there: the client tests leave out a stage that is not built (with one
# header line), so a twin that failed to configure — a library missing on this machine — would
# otherwise pass unnoticed.
for folder in "$REPO"/stages/linux/[0-9][0-9]_*/; do
  twin=$(basename "$folder")
  if [ ! -x "$NATIVE_BUILD_DIR/bin/stage$twin" ]; then
    echo "error: the Linux twin $twin was not built (see the CMake lines above)" >&2
    status=1
  fi
done
log "unit tests (ctest)"
ctest --preset "$PRESET" || status=1
log "unit tests of the Linux twins (ctest, native)"
ctest --preset "$NATIVE_PRESET" || status=1

# --- the Windows path's own checks (full run only) -------------------------------------------
# What can be checked of it without Windows: the workflow, the PowerShell scripts, the C++
# against a strict standard library, the unit tests with Catch2 v3 (scripts/check_windows.sh).
log "checks of the Windows path (scripts/check_windows.sh)"
"$REPO/scripts/check_windows.sh" || status=1
# ----------------------------------------------------------------------------------------------

log "fuzzing stage 09's HTTP parser (libFuzzer, ${FUZZ_SECONDS:-60} s)"
"$REPO/tests/fuzz/run.sh" "${FUZZ_SECONDS:-60}" > "$BUILD_DIR/fuzz.log" 2>&1 || {
  tail -n 40 "$BUILD_DIR/fuzz.log"
  echo "the fuzzer found a failing input: see build/fuzz/ and $BUILD_DIR/fuzz.log"
  status=1
}
grep -E "^Done|stat::number_of_executed_units" "$BUILD_DIR/fuzz.log" || true

log "client tests (pytest)"
# /usr/bin/python3: Debian's python, the one with python3-pytest (another python3 may come
# first on PATH).
(cd "$REPO" && /usr/bin/python3 -m pytest tests --build-dir "$BUILD_DIR" \
   --native-build-dir "$NATIVE_BUILD_DIR" "$@") || status=1

if [ $status -eq 0 ]; then log "all tests passed"; else log "some tests FAILED"; fi
exit $status
