"""The README's commands for the Linux twins: scripts/run.sh linux/NN builds the linux-native
preset and runs the twin natively, in the foreground, until Ctrl+C; scripts/diff.sh linux/NN
shows a twin beside its Windows twin."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness import checks
from harness.process import ServerProcess

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "scripts" / "run.sh"
DIFF = REPO / "scripts" / "diff.sh"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux twins' commands")


def run_script(*args):
    return ServerProcess(["bash", str(RUN), *args])


def test_run_sh_linux_nn_runs_the_native_twin_with_the_arguments_after_it():
    process = run_script("linux/04", "--help")
    assert process.wait_exit(600) == 0, process.output_text()
    assert any(line.startswith("usage: stage04_poll") for line in process.stdout_lines)
    assert not any("wine" in line.lower() for line in process.stdout_lines)


def test_run_sh_linux_nn_serves_in_the_foreground_until_ctrl_c():
    process = run_script("linux/07", "--port", "0")
    try:
        host, port = process.wait_listening(600)
        checks.echo_round_trip(host, port, b"through scripts/run.sh linux/07\n")
    finally:
        code = process.stop()
    assert code == 0, process.output_text()


def test_run_sh_names_a_twin_that_does_not_exist():
    process = run_script("linux/99")
    assert process.wait_exit(600) == 2, process.output_text()
    assert any("no Linux twin 99" in line for line in process.stderr_lines)


@pytest.mark.parametrize("twin, windows, linux", [
    ("01", "stages/01_blocking_echo/main.cpp", "stages/linux/01_blocking_echo/main.cpp"),
    ("04", "stages/04_select/main.cpp", "stages/linux/04_poll/main.cpp"),
    ("07", "stages/07_iocp_server/main.cpp", "stages/linux/07_epoll/main.cpp"),
    ("08", "stages/08_async_echo/main.cpp", "stages/linux/08_io_uring/main.cpp"),
])
def test_diff_sh_shows_each_twin_beside_its_windows_twin(twin, windows, linux):
    result = subprocess.run(["bash", str(DIFF), f"linux/{twin}", "--stat"], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert linux in result.stderr and windows in result.stderr, result.stderr
    assert "1 file changed" in result.stdout
