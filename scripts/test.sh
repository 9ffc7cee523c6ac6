#!/usr/bin/env bash
# Build everything and run every test: the Catch2 unit tests (CTest, under Wine) and the
# pytest suite (client tests against every built stage, the harness's own tests, the notes
# check). Arguments go to pytest, e.g. scripts/test.sh --stage 01 -k echo
#
# Installs what is missing first (apt, needs root or sudo); see scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_missing_packages
build_all

status=0
log "unit tests (ctest)"
ctest --preset "$PRESET" || status=1

log "client tests (pytest)"
# /usr/bin/python3: Debian's python, the one with python3-pytest (another python3 may come
# first on PATH).
(cd "$REPO" && /usr/bin/python3 -m pytest tests --build-dir "$BUILD_DIR" "$@") || status=1

if [ $status -eq 0 ]; then log "all tests passed"; else log "some tests FAILED"; fi
exit $status
