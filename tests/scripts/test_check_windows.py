"""scripts/check_windows.sh, the checks of the Windows path that run on Linux: each one passes on
the repository's own file and fails on a copy broken the way a Windows machine would find it
broken (a misspelt workflow key, an unclosed brace, a missing #include, a Catch2 v2 habit)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "check_windows.sh"
CHECKS_DIR = REPO / "build" / "windows-checks"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the checks run on Linux")


def check(*args):
    result = subprocess.run(["bash", str(CHECK), *map(str, args)], cwd=REPO,
                            capture_output=True, text=True, timeout=900)
    return result.returncode, result.stdout + result.stderr


def broken_copy(tmp_path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text, f"{source} no longer holds {old!r}: pick another mutation"
    copy = tmp_path / source.name
    copy.write_text(text.replace(old, new, 1))
    return copy


def test_the_workflow_passes_and_a_misspelt_key_fails_both_linters(tmp_path):
    workflow = REPO / ".github" / "workflows" / "windows.yml"
    code, output = check("workflow", workflow)
    assert code == 0, output

    copy = broken_copy(tmp_path, workflow, "runs-on:", "runs_on:")
    code, output = check("workflow", copy)
    assert code == 1, output
    assert 'unexpected key "runs_on"' in output, output          # actionlint
    assert "Additional property 'runs_on' is not allowed" in output, output  # the schema


def test_the_powershell_scripts_pass():
    code, output = check("powershell", *sorted((REPO / "scripts").glob("*.ps1")))
    assert code == 0, output


@pytest.mark.parametrize("old, new, complaint", [
    # run.ps1's Stop-WithUsage loses its closing brace.
    ('    exit 2\n}\n', '    exit 2\n\n', "parse error: missing `}`"),
    # PowerShell 7 operators, which Windows PowerShell 5.1 stops at.
    ('$Preset = if ($env:PRESET) { $env:PRESET } else { "windows-msvc" }',
     '$Preset = $env:PRESET ?? "windows-msvc"', "`??` (null-coalescing) is PowerShell 7 only"),
    ('$Preset = if ($env:PRESET) { $env:PRESET } else { "windows-msvc" }',
     '$Preset = $env:PRESET ? $env:PRESET : "windows-msvc"', "the ternary `a ? b : c`"),
    ('cmake --preset $Preset\n', 'cmake --preset $Preset && Write-Host configured\n',
     "`&&` / `||` between commands is PowerShell 7 only"),
    # An en dash in a comment: 5.1 reads a file without a byte-order mark as ANSI.
    ("# Windows: build and run", "# Windows \u2013 build and run", "not ASCII"),
])
def test_each_breakage_of_a_powershell_script_fails(tmp_path, old, new, complaint):
    copy = broken_copy(tmp_path, REPO / "scripts" / "run.ps1", old, new)
    code, output = check("powershell", copy)
    assert code == 1, output
    assert complaint in output, output


def test_a_file_that_uses_std_vector_without_its_include_fails_against_libcxx(tmp_path):
    # A standard header may include another, and each library does it differently: libc++
    # without its transitive includes gives only what the standard promises.
    body = ("#include <string>\nINCLUDE\n"
            "std::size_t count_words(const std::string& a, const std::string& b) {\n"
            "    const std::vector<std::string> words{a, b};\n"
            "    return words.size();\n"
            "}\n")
    whole = tmp_path / "whole.cpp"
    whole.write_text(body.replace("INCLUDE", "#include <vector>"))
    code, output = check("libcxx", whole)
    assert code == 0, output

    missing = tmp_path / "missing.cpp"
    missing.write_text(body.replace("INCLUDE", ""))
    code, output = check("libcxx", missing)
    assert code == 1, output
    assert "implicit instantiation of undefined template 'std::vector" in output, output
    assert f"FAILED: {missing}" in output, output


def test_what_mingw_gcc_forgives_the_libcxx_check_does_not(tmp_path):
    # libstdc++'s <memory> brings std::min along (<algorithm>'s): the MinGW build takes this
    # file; a library that gives only what <memory> must, libc++ here, does not.
    source = tmp_path / "buffer.cpp"
    source.write_text("#include <cstddef>\n#include <memory>\n"
                      "std::unique_ptr<char[]> buffer_for(std::size_t wanted) {\n"
                      "    return std::make_unique<char[]>(std::min(wanted, std::size_t{65536}));\n"
                      "}\n")
    gcc = subprocess.run(["x86_64-w64-mingw32-g++-posix", "-std=c++17", "-fsyntax-only",
                          str(source)], capture_output=True, text=True)
    assert gcc.returncode == 0, gcc.stderr
    code, output = check("libcxx", source)
    assert code == 1, output
    assert "no member named 'min' in namespace 'std'" in output, output
    assert f"FAILED: {source}" in output, output


@pytest.mark.skipif(os.environ.get("CMAKE_CXX_COMPILER_LAUNCHER") != "ccache",
                    reason="a second build of Catch2 v3 from its sources: 3 to 4 minutes "
                           "without ccache (set "
                           "CMAKE_CXX_COMPILER_LAUNCHER=ccache)")
def test_a_catch2_v2_habit_fails_the_catch2_v3_build(tmp_path):
    # Catch2 v2 puts Approx in the global namespace; v3 has only Catch::Approx.
    source = CHECKS_DIR / "v2-habit-source"
    # Beside the check's own build tree, at the same depth: ccache then finds Catch2's objects
    # (it hashes paths relative to each build directory).
    build = CHECKS_DIR / "catch2-v3-v2habit"
    subprocess.run(["rm", "-rf", str(source), str(build)], check=True)
    source.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "CMakeLists.txt", "cmake", "common", "stages",
                            "tests/unit", "bench/peers"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((REPO / name).read_bytes())
    test_file = source / "tests" / "unit" / "test_accept_errors.cpp"
    test_file.write_text(test_file.read_text() +
                         '\nTEST_CASE("a v2 habit", "[accept_errors]") { CHECK(1.0 == Approx(1.0)); }\n')
    try:
        code, output = check("catch2", source, build)
        assert code == 1, output
        # (GCC quotes the name with typographic quotes in a UTF-8 locale)
        assert re.search(r"Approx.? was not declared in this scope", output), output
    finally:
        subprocess.run(["rm", "-rf", str(source), str(build), f"{build}.configure.log",
                        f"{build}.build.log"], check=True)
