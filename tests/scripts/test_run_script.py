"""The README's run command: scripts/run.sh builds, then runs stage 07 unless told otherwise,
in the foreground, and Ctrl+C ends it with exit code 0."""

import sys
from pathlib import Path

import pytest

from harness import checks
from harness.process import ServerProcess

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "scripts" / "run.sh"

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="scripts/run.sh is the Linux command"),
    # The same persistent wineserver as the other tests, ended with them: nothing outlives
    # the run.
    pytest.mark.usefixtures("wine_session"),
]


def run_script(*args):
    return ServerProcess(["bash", str(RUN), *args])


def test_with_no_stage_named_it_runs_the_final_iocp_server():
    process = run_script("--help")
    assert process.wait_exit(600) == 0, process.output_text()
    assert any(line.startswith("usage: stage07_iocp_server") for line in process.stdout_lines)


def test_a_named_stage_gets_the_arguments_after_its_number():
    process = run_script("01", "--help")
    assert process.wait_exit(600) == 0, process.output_text()
    assert any(line.startswith("usage: stage01_blocking_echo") for line in process.stdout_lines)
    # Stage 01 alone is built: no other stage, no unit tests.
    built = [line for line in process.stdout_lines if "Built target" in line]
    assert any(line.endswith("Built target stage01_blocking_echo") for line in built), built
    assert not any("stage07" in line or "unit_tests" in line for line in built), built


def test_it_serves_in_the_foreground_until_ctrl_c():
    process = run_script("--port", "0")
    try:
        host, port = process.wait_listening(600)
        checks.echo_round_trip(host, port, b"through scripts/run.sh\n")
    finally:
        code = process.stop()
    assert code == 0, process.output_text()
