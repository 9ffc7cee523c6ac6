"""scripts/test.sh in its two focused forms. --exe PATH --as NN, the README's command for a
server of your own, runs the client tests of stage NN's row against PATH, and nothing else: no
build, no unit tests, no fuzzer. --stage NN builds that stage and runs the unit tests of the code
it uses and its client tests: no other stage, no other preset, no fuzzer, no harness self-tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_SH = REPO / "scripts" / "test.sh"
OWN_SERVER = REPO / "tests" / "harness" / "own_server.py"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="scripts/test.sh is the Linux command")


def run_test_script(*args, flaw="", cwd=REPO):
    return subprocess.run(["bash", str(TEST_SH), *args, "-p", "no:cacheprovider"],
                          env=dict(os.environ, OWN_SERVER_FLAW=flaw), cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_with_exe_it_runs_only_that_rows_client_tests_against_the_program():
    result = run_test_script("--exe", str(OWN_SERVER), "--as", "02", "-k", "test_echo")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "6 passed" in result.stdout, output  # the echo suite of row 02, all of it
    for other_step in ("configuring and building", "unit tests (ctest)", "fuzzing"):
        assert other_step not in output, output


def test_its_exit_code_is_pytests_when_the_program_fails():
    result = run_test_script("--exe", str(OWN_SERVER), "--as", "02", "-k", "test_echo",
                             flaw="nul-to-space")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 failed" in result.stdout, result.stdout


@pytest.mark.parametrize("form", ["--exe PATH", "--exe=PATH"])
def test_a_relative_path_is_taken_from_where_you_are(form):
    exe = ["--exe", "own_server.py"] if form == "--exe PATH" else ["--exe=own_server.py"]
    result = run_test_script(*exe, "--as", "02", "-k", "test_help", cwd=OWN_SERVER.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout


def test_with_stage_it_builds_and_tests_that_stage_and_the_code_it_uses_only():
    result = run_test_script("--stage", "01", "-k", "test_help")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for unit in ("unit.send_all", "unit.blocking_sockets", "unit.ctrl_c"):  # stage 01's code
        assert f": {unit} " in output, output
    for other in ("unit.http ", "unit.worker_pool", "stage02_thread_per_client", "linux-native",
                  "fuzzing", "test_harness.py"):
        assert other not in output, output
    assert "1 passed" in result.stdout, output  # --help of stage 01, its one client test here


def stage_labels():
    """Every stage folder, as the CTest label its unit tests carry: (build tree, label)."""
    for folder in sorted((REPO / "stages").glob("[0-9][0-9]_*")):
        yield "windows", f"stage{folder.name[:2]}"
    for folder in sorted((REPO / "stages" / "linux").glob("[0-9][0-9]_*")):
        yield "native", f"stage{folder.name[:2]}"


@pytest.mark.parametrize("tree, label", list(stage_labels()))
def test_every_stage_has_unit_tests_labelled_with_it(pytestconfig, tree, label):
    """--stage NN runs `ctest -L stageNN`, which fails when no test carries the label: every
    stage folder must have its entry in tests/unit/CMakeLists.txt (or tests/unit/linux's)."""
    from conftest import build_dir, native_build_dir
    where = build_dir(pytestconfig) if tree == "windows" else native_build_dir(pytestconfig)
    if not (where / "CTestTestfile.cmake").exists():
        pytest.skip(f"{where} is not configured (scripts/test.sh configures it first)")
    listed = subprocess.run(["ctest", "--test-dir", str(where), "-N", "-L", f"^{label}$"],
                            capture_output=True, text=True, timeout=60)
    assert "Total Tests: 0" not in listed.stdout and listed.returncode == 0, \
        f"no unit test is labelled {label} in {where}:\n{listed.stdout}{listed.stderr}"
