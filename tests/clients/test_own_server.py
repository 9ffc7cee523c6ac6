"""Your own server under the tests (README, "Test your own server"): `pytest tests --exe PATH
--as NN` runs stage NN's row of the capability table against any program. Shown here the way a
learner would use it, by running pytest itself, against tests/harness/own_server.py: a small
Python echo server that keeps the stage contract passes the whole of stage 02's row, and the same
server with one flaw fails it, in the tests that look for that flaw and in no others.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import runner_for
from harness.process import ON_WINDOWS

REPO = Path(__file__).resolve().parents[2]
OWN_SERVER = REPO / "tests" / "harness" / "own_server.py"

# A hang guard for a whole inner run of stage 02's row (about 10 s here).
INNER_RUN_TIMEOUT = 600


def run_pytest(*args: str, flaw: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "OWN_SERVER_FLAW"}
    if flaw:
        env["OWN_SERVER_FLAW"] = flaw
    # -rA: a summary line for every test, PASSED or FAILED, with its name.
    command = [sys.executable, "-m", "pytest", "tests", *args,
               "-q", "-rA", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=INNER_RUN_TIMEOUT)


def outcomes(result: subprocess.CompletedProcess) -> dict[str, set[str]]:
    """{"PASSED": {"test_echo.py::test_...[02]", ...}, "FAILED": {...}, ...}"""
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"^(PASSED|FAILED|ERROR) tests/clients/(\S+)", result.stdout, re.M):
        found.setdefault(match.group(1), set()).add(match.group(2))
    return found


def test_a_correct_server_of_your_own_passes_stage_02s_row():
    result = run_pytest("--exe", str(OWN_SERVER), "--as", "02")
    report = result.stdout[-6000:] + result.stderr[-2000:]
    found = outcomes(result)
    assert result.returncode == 0, report
    assert not found.get("FAILED") and not found.get("ERROR"), report
    # The row really ran: the contract, the echo suite, many clients at once, 1,500 cycles.
    for test in ("test_contract.py::test_help_prints_the_usage_and_exits_0[02]",
                 "test_contract.py::test_ctrl_c_in_the_middle_of_a_transfer_exits_0[02]",
                 "test_echo.py::test_one_mib_of_binary_with_nul_bytes[02]",
                 "test_concurrency.py::test_many_clients_at_once_each_get_their_own_bytes[02]",
                 "test_cycles.py::test_connect_echo_close_cycles_leave_nothing_behind[02]"):
        assert test in found.get("PASSED", set()), f"{test} did not pass\n{report}"
    # Only the row's client tests: not the harness's own tests, nor the notes check.
    assert not any(name.startswith("test_own_server.py") for names in found.values()
                   for name in names), report


def test_a_server_of_your_own_with_a_flaw_fails_where_the_flaw_is():
    result = run_pytest("--exe", str(OWN_SERVER), "--as", "02", flaw="nul-to-space")
    report = result.stdout[-6000:] + result.stderr[-2000:]
    failed = outcomes(result).get("FAILED", set())
    assert result.returncode == 1, report
    # NUL bytes come back as spaces: the binary echo and the half-close check see it; the
    # text lines, the contract and the cycles never send a NUL and pass.
    caught = {"test_echo.py::test_one_mib_of_binary_with_nul_bytes[02]",
              "test_echo.py::test_half_close_gets_everything_then_end_of_stream[02]"}
    assert caught <= failed, report
    assert all(name.startswith("test_echo.py::") for name in failed), report


@pytest.mark.parametrize("args, message", [
    (["--exe", str(OWN_SERVER)], "--exe PATH and --as NN go together"),
    (["--as", "02"], "--exe PATH and --as NN go together"),
    (["--exe", str(OWN_SERVER), "--as", "99"], "unknown stage 99"),
    (["--exe", "no/such/server", "--as", "02"], "no such file"),
    (["--exe", str(OWN_SERVER), "--as", "02", "--stage", "01"], "--stage does not apply"),
], ids=["exe-without-as", "as-without-exe", "unknown-stage", "no-such-file", "with-stage"])
def test_wrong_exe_options_are_a_usage_error(args, message):
    result = run_pytest(*args, "--collect-only")
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's "usage error"
    assert message in result.stderr, result.stderr


@pytest.mark.skipif(ON_WINDOWS, reason="the executable bit is a Linux matter")
def test_a_native_program_that_is_not_executable_is_a_usage_error(tmp_path):
    program = tmp_path / "server"
    program.write_text("#!/bin/sh\n")
    result = run_pytest("--exe", str(program), "--as", "02", "--collect-only")
    assert result.returncode == 4 and "is not executable" in result.stderr, result.stderr


def test_how_each_kind_of_program_is_started():
    wine_run = Path("/build/wine-run")
    assert runner_for(Path("server.py"), wine_run) == [sys.executable]
    assert runner_for(Path("server"), wine_run) == []  # a native program, or a #! script
    expected = [] if ON_WINDOWS else [str(wine_run)]
    assert runner_for(Path("stage02_thread_per_client.exe"), wine_run) == expected
    assert runner_for(Path("SERVER.EXE"), wine_run) == expected
