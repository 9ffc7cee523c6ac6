# Shared by scripts/run.sh and scripts/test.sh: install what is missing, configure, build.
# Sourced, not run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PRESET=linux-mingw-wine
DEFAULT_STAGE=07   # what scripts/run.sh starts when no stage is named: the final IOCP server
BUILD_DIR="$REPO/build/$PRESET"
# The Linux twins of stages/linux: native programs, built with the host's g++, run directly.
NATIVE_PRESET=linux-native
NATIVE_BUILD_DIR="$REPO/build/$NATIVE_PRESET"

# Debian 12 / Ubuntu packages, in two sets: scripts/run.sh installs only what building and
# running a stage needs (the first minutes of a fresh machine), scripts/test.sh the test tools too.
#
# Building and running a Windows stage (scripts/run.sh NN):
#   g++-mingw-w64-x86-64-posix  the MinGW-w64 cross compiler, posix-threads variant (std::thread)
#   wine, wine64                runs the .exe files (wine64 alone has no `wine` command)
#   cmake, make                 the build
#   netcat-openbsd              nc, to talk to a stage by hand (README and every note use it)
RUN_PACKAGES=(g++-mingw-w64-x86-64-posix wine wine64 cmake make netcat-openbsd)
# Building and running a Linux twin (scripts/run.sh linux/NN):
#   g++                         the native compiler of the Linux twins (stages/linux)
#   cmake, make, netcat-openbsd as above
NATIVE_RUN_PACKAGES=(g++ cmake make netcat-openbsd)
# ... and for linux/08 also:
#   liburing-dev                io_uring for the Linux twin of stage 08 (stages/linux/08_io_uring)
#   pkg-config                  how CMake finds liburing (stages/linux/CMakeLists.txt); a fresh
#                               machine may not have it, and without it the twin is not built
URING_PACKAGES=(liburing-dev pkg-config)
# The tests (scripts/test.sh), which build both sides, so all of the above and:
#   catch2                      unit tests (a single header, copied into the build tree)
#   python3-pytest(-timeout)    the client tests (run with /usr/bin/python3)
#   curl                        stage 09's tests fetch files with it too
#   clang, libclang-rt-14-dev   the fuzzer of stage 09's HTTP parser (libFuzzer and sanitizers)
#   chromium                    a real browser: tests/clients/test_browser.py loads stage 09's
#                               site in headless Chromium (page, stylesheet and picture)
TEST_PACKAGES=(catch2 python3 python3-pytest python3-pytest-timeout curl clang libclang-rt-14-dev
               chromium)
# Everything: what install_missing_packages installs when given no names (bench/run.sh adds its own).
PACKAGES=("${RUN_PACKAGES[@]}" "${NATIVE_RUN_PACKAGES[@]}" "${URING_PACKAGES[@]}"
          "${TEST_PACKAGES[@]}")

log() { printf '\n==> %s\n' "$*"; }

# install_missing_packages [PACKAGE...]: those named, or else every one of PACKAGES.
install_missing_packages() {
  local wanted=("$@") missing=()
  [ ${#wanted[@]} -gt 0 ] || wanted=("${PACKAGES[@]}")
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  log "installing: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # A release may name a package differently (libclang-rt-14-dev is Debian 12's; on older
  # Ubuntus the same files come with clang itself): skip what this one does not have.
  local available=()
  for package in "${missing[@]}"; do
    if apt-cache show "$package" >/dev/null 2>&1; then
      available+=("$package")
    else
      echo "note: no package '$package' in this release's lists; skipped"
    fi
  done
  [ ${#available[@]} -eq 0 ] && return 0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${available[@]}"
}

build_all() {
  log "configuring and building (preset $PRESET, build tree build/$PRESET)"
  cmake --preset "$PRESET" -S "$REPO" >/dev/null
  cmake --build --preset "$PRESET"
}

# The Linux twins: the same top-level CMakeLists.txt, configured natively, builds stages/linux.
build_native() {
  log "configuring and building the Linux twins (preset $NATIVE_PRESET, build tree build/$NATIVE_PRESET)"
  cmake --preset "$NATIVE_PRESET" -S "$REPO" >/dev/null
  cmake --build --preset "$NATIVE_PRESET"
}

# The CMake target of stage NN (stages/NN_name builds stageNN_name) or of the twin linux/NN
# (stages/linux/NN_name, the same name, natively); nothing when there is no such folder.
stage_target() {
  local folder
  if [[ $1 == linux/* ]]; then
    folder=$(ls -d "$REPO"/stages/linux/"${1#linux/}"_*/ 2>/dev/null | head -n 1 || true)
  else
    folder=$(ls -d "$REPO"/stages/"$1"_*/ 2>/dev/null | head -n 1 || true)
  fi
  [ -z "$folder" ] || echo "stage$(basename "$folder")"
}

# build_targets PRESET TARGET...: configure, then build those targets only (and what they use).
build_targets() {
  local preset=$1
  shift
  log "configuring and building $* (preset $preset, build tree build/$preset)"
  cmake --preset "$preset" -S "$REPO" >/dev/null
  cmake --build --preset "$preset" --target "$@"
}

# ctest_under_wine ARGS...: ctest on the Windows build tree, with one wineserver kept for the
# whole run. Without it every entry starts Wine's server and helper processes anew (about 3 s
# each, against well under 1 s); tests/harness/process.py's WineSession does the same for the
# client tests. The helpers inherit the output of the program that starts them, so a first
# program with its output sent to /dev/null starts them: else they would hold CTest's pipes open.
# A wineserver already running for the prefix (a test session's) is used, and left running.
ctest_under_wine() {
  local prefix="$BUILD_DIR/wineprefix" server status=0
  local wine=(env WINEPREFIX="$prefix" WINEDEBUG=-all)
  if [ ! -f "$prefix/system.reg" ]; then  # no prefix yet: wine-run makes it
    "$BUILD_DIR/wine-run" cmd /c exit </dev/null >/dev/null 2>&1 || true
    timeout 30 "${wine[@]}" wineserver -w || true
  fi
  "${wine[@]}" wineserver -p -f </dev/null >/dev/null 2>&1 &  # exits at once if one runs
  server=$!
  "$BUILD_DIR/wine-run" cmd /c exit </dev/null >/dev/null 2>&1 || true
  ctest --no-tests=error --no-label-summary "$@" || status=$?
  if kill -0 "$server" 2>/dev/null; then
    "${wine[@]}" wineserver -k || true
    wait "$server" || true
  fi
  return $status
}
