# Shared by scripts/run.sh and scripts/test.sh: install what is missing, configure, build.
# Sourced, not run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PRESET=linux-mingw-wine
DEFAULT_STAGE=07   # what scripts/run.sh starts when no stage is named: the final IOCP server
BUILD_DIR="$REPO/build/$PRESET"
# The Linux twins of stages/linux: native programs, built with the host's g++, run directly.
NATIVE_PRESET=linux-native
NATIVE_BUILD_DIR="$REPO/build/$NATIVE_PRESET"

# Debian 12 / Ubuntu packages the build and the tests need.
#   g++-mingw-w64-x86-64-posix  the MinGW-w64 cross compiler, posix-threads variant (std::thread)
#   wine, wine64                runs the .exe files (wine64 alone has no `wine` command)
#   cmake, make                 the build
#   catch2                      unit tests (a single header, copied into the build tree)
#   python3-pytest(-timeout)    the client tests (run with /usr/bin/python3)
#   curl                        stage 09's tests fetch files with it too
#   clang, libclang-rt-14-dev   the fuzzer of stage 09's HTTP parser (libFuzzer and sanitizers)
#   netcat-openbsd              nc, to talk to a stage by hand (README and every note use it)
#   chromium                    a real browser: tests/clients/test_browser.py loads stage 09's
#                               site in headless Chromium (page, stylesheet and picture)
#   g++                         the native compiler of the Linux twins (stages/linux)
#   liburing-dev                io_uring for the Linux twin of stage 08 (stages/linux/08_io_uring)
#   pkg-config                  how CMake finds liburing (stages/linux/CMakeLists.txt); a fresh
#                               machine may not have it, and without it the twin is not built
PACKAGES=(g++-mingw-w64-x86-64-posix wine wine64 cmake make catch2 python3 python3-pytest
          python3-pytest-timeout curl clang libclang-rt-14-dev netcat-openbsd chromium g++
          liburing-dev pkg-config)

log() { printf '\n==> %s\n' "$*"; }

# With arguments: those packages instead of PACKAGES (scripts/check_windows.sh's own).
install_missing_packages() {
  local missing=() wanted=("${PACKAGES[@]}")
  [ $# -gt 0 ] && wanted=("$@")
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
