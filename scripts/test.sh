#!/usr/bin/env bash
# Build everything and run every test: the Catch2 unit tests (CTest: the Windows stages' under
# Wine, the Linux twins' natively), a bounded run of the HTTP parser's fuzzer (FUZZ_SECONDS,
# default 60), and the pytest suite (client tests against every built stage — the Windows stages
# under Wine, their Linux twins natively — the harness's own tests, the notes check). Arguments
# go to pytest, e.g. scripts/test.sh -k half_close. This is the command CI runs (.ci/run).
#
#   scripts/test.sh --stage NN           one stage (or linux/NN, or NN,MM): builds only what it
#                                        needs — its program and the unit tests — and runs the
#                                        unit tests of the code it uses (CTest label stageNN)
#                                        and its client tests; no fuzzer, no other preset, no
#                                        tests of the harness itself. With -k NAME, the client
#                                        tests whose names match.
#   scripts/test.sh --exe PATH --as NN   your own server in stage NN's place (README, "Test your
#                                        own server"): only the client tests of stage NN's row,
#                                        against PATH; nothing is built, no unit tests, no fuzzer
#
# Installs what is missing first (apt, needs root or sudo): the test tools as well as what the
# build needs; see scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --exe PATH: the path made absolute (pytest runs from the repository, you may not be there).
own_program=""
pytest_args=()
stages=()  # the stages named with --stage, one by one
previous=""
for arg in "$@"; do
  if [ "$previous" = "--exe" ]; then
    own_program=$(realpath -m -- "$arg")
    arg=$own_program
  elif [[ $arg == --exe=* ]]; then
    own_program=$(realpath -m -- "${arg#--exe=}")
    arg="--exe=$own_program"
  elif [ "$previous" = "--stage" ] || [[ $arg == --stage=* ]]; then
    IFS=, read -r -a named <<< "${arg#--stage=}"
    stages+=("${named[@]}")
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

if [ ${#stages[@]} -gt 0 ]; then
  # Each stage's program, and the targets its client tests use besides it.
  windows=() native=() windows_labels=() native_labels=()
  for stage in "${stages[@]}"; do
    target=$(stage_target "$stage")
    [ -n "$target" ] || { echo "no stage $stage in $REPO/stages" >&2; exit 2; }
    case $stage in
      linux/04) native+=("$target" fd_setsize_demo fd_setsize_demo_unchecked) ;;
      linux/08) native+=("$target" uring_busy_once uring_long_pause) ;;
      linux/*) native+=("$target") ;;
      08) windows+=("$target" stage08_async_echo_sendcap) ;;
      10) windows+=("$target" stage10_fast_path_unfair stage10_fast_path_sendcap) ;;
      *) windows+=("$target") ;;
    esac
    if [[ $stage == linux/* ]]; then native_labels+=("${stage#linux/}"); else windows_labels+=("$stage"); fi
  done
  status=0
  if [ ${#windows[@]} -gt 0 ]; then
    build_targets "$PRESET" "${windows[@]}" unit_tests
    log "unit tests of the code used by stage ${windows_labels[*]} (ctest -L stageNN)"
    ctest_under_wine --preset "$PRESET" -L "^stage($(IFS='|'; echo "${windows_labels[*]}"))\$" ||
      status=1
  fi
  if [ ${#native[@]} -gt 0 ]; then
    build_targets "$NATIVE_PRESET" "${native[@]}" linux_unit_tests
    log "unit tests of the code used by twin ${native_labels[*]} (ctest -L stageNN, native)"
    ctest --preset "$NATIVE_PRESET" --no-tests=error --no-label-summary \
      -L "^stage($(IFS='|'; echo "${native_labels[*]}"))\$" || status=1
  fi
  log "client tests (pytest)"
  # tests/clients, but not the harness's own tests there (the full run has them).
  (cd "$REPO" && /usr/bin/python3 -m pytest tests/clients --ignore=tests/clients/test_harness.py \
     --ignore=tests/clients/test_own_server.py --build-dir "$BUILD_DIR" \
     --native-build-dir "$NATIVE_BUILD_DIR" "$@") || status=1
  if [ $status -eq 0 ]; then log "stage ${stages[*]}: all tests passed"; else log "some tests FAILED"; fi
  exit $status
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
ctest_under_wine --preset "$PRESET" || status=1
log "unit tests of the Linux twins (ctest, native)"
ctest --preset "$NATIVE_PRESET" --no-tests=error --no-label-summary || status=1

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
