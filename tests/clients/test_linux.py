"""What only the Linux twins (stages/linux) do, shown as behaviour: poll() past descriptor 1023,
the descriptor limit as the client limit, SIGTERM, epoll workers at shutdown, and what select()
does with descriptor 1024 (stages/linux/04_poll/fd_setsize_demo.cpp).

Their Windows twins' rows run from the other files (tests/harness/stages.py: linux/01, linux/04,
linux/07). On Windows, none of this applies (conftest.py says so once).
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import checks

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux twins' own tests")


def start_with_descriptor_limit(launch, stage, soft: int, hard: int | None, *args: str):
    """Start the twin as a shell would whose `ulimit -n` is this low: the server inherits the
    limit (and may raise its soft one up to the hard one)."""
    program = launch.program(stage)
    limits = f"ulimit -Sn {soft} && ulimit -Hn {hard}" if hard else f"ulimit -Sn {soft}"
    # exec: the shell becomes the program, so the pid (for /proc and for SIGINT) is the server's.
    return launch.start_argv(["sh", "-c", f'{limits} && exec "$0" "$@"', str(program),
                              *stage.extra_args, "--port", "0", *args])


def descriptors_of(pid: int) -> list[int]:
    return [int(name) for name in os.listdir(f"/proc/{pid}/fd")]


@pytest.mark.needs("past_fd_setsize")
def test_2000_clients_with_descriptors_past_1023_started_from_a_shell_limited_to_1024(launch,
                                                                                        stage):
    # A terminal's usual soft limit, 1024: select()'s limit, and about this server's too, had it
    # not raised its own (net::raise_descriptor_limit).
    server = start_with_descriptor_limit(launch, stage, 1024, None)
    server.wait_listening()
    clients = []
    try:
        for _ in range(2000):
            clients.append(checks.connect(server.host, server.port))
        server.wait_for_line(r"^client 2000 connected from .* \(2000 live\)$")
        highest = max(descriptors_of(server.proc.pid))
        assert highest >= 1024, f"the server's highest descriptor is {highest}"
        payloads = [b"%04d says hello\n" % index for index in range(2000)]
        for sock, payload in zip(clients, payloads):
            sock.sendall(payload)
        for index, (sock, payload) in enumerate(zip(clients, payloads)):
            got = checks.recv_exactly(sock, len(payload))
            assert got == payload, f"client {index} got {got!r}"
    finally:
        for sock in clients:
            sock.close()


@pytest.mark.needs("descriptor_limit")
def test_where_the_descriptor_limit_ends_one_more_client_is_refused_with_a_line(launch, stage):
    # Soft and hard limit 300: the server cannot raise it, so it has 300 descriptors, and keeps
    # settings["descriptors_besides_clients"] of them for itself (stdin, stdout, stderr, the
    # listener, one spare to refuse with, and the epoll set and stop event of 07's twin).
    limit = 300 - stage.settings["descriptors_besides_clients"]
    server = start_with_descriptor_limit(launch, stage, 300, 300)
    server.wait_listening()
    checks.check_limit_refuses_one_more(server.host, server.port, limit=limit)
    server.wait_for_line(rf"^refused a client from .*: server full \({limit} clients\)$")


@pytest.mark.needs("posix_signals")
def test_sigterm_stops_it_like_ctrl_c(server):
    with checks.connect(server.host, server.port):
        server.wait_for_line(r"^client 1 connected")
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit() == 0, server.output_text()
    assert server.stdout_lines[-1].startswith("stopped"), server.output_text()
    assert any(line.startswith("client 1 disconnected: server stopping")
               for line in server.stdout_lines), server.output_text()


@pytest.mark.needs("posix_signals")
def test_ctrl_c_right_after_a_client_leaves_exits_0(launch, stage):
    """Ctrl+C lands while the server is between clients — where a handler that only set a flag
    could be lost before the next blocking call. Many tries, at varied moments."""
    for attempt in range(20):
        server = launch.serve(stage)
        checks.echo_round_trip(server.host, server.port, b"one\n")
        assert server.stop() == 0, f"attempt {attempt}\n{server.output_text()}"


@pytest.mark.needs("iocp_server", "descriptor_limit")
def test_ctrl_c_with_64_workers_and_1000_armed_clients_frees_every_one(launch, stage):
    """Every worker waits in epoll_wait on the same set; the stop event reaches them all, and the
    clients no worker took are freed by main after the join."""
    server = launch.serve(stage, "--workers", "64")
    clients = [checks.connect(server.host, server.port) for _ in range(1000)]
    try:
        server.wait_for_line(r"^client 1000 connected")
        assert server.stop() == 0, server.output_text()
        gone = {int(m.group(1)) for line in server.stdout_lines
                if (m := re.match(r"^client (\d+) disconnected: server stopping", line))}
        assert gone == set(range(1, 1001)), f"never let go: {sorted(set(range(1, 1001)) - gone)[:10]}"
    finally:
        for sock in clients:
            sock.close()


# --- select() and descriptor 1024 -----------------------------------------------------------

def demo(request, name: str) -> Path:
    from conftest import native_build_dir  # the build tree the twins come from
    program = native_build_dir(request.config) / "bin" / name
    if not program.exists():
        pytest.skip(f"{program} is not built (the linux-native preset builds it)")
    return program


def test_select_with_descriptor_1024_is_stopped_by_glibcs_fortify_check(request):
    result = subprocess.run([str(demo(request, "fd_setsize_demo"))], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == -signal.SIGABRT, result
    assert "putting descriptor 1024 in an fd_set" in result.stdout
    assert "*** bit out of range 0 - FD_SETSIZE on fd_set ***: terminated" in result.stderr
    assert "FD_SET returned" not in result.stdout


def test_select_with_descriptor_1024_unchecked_writes_past_the_fd_set(request):
    result = subprocess.run([str(demo(request, "fd_setsize_demo_unchecked"))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result
    # Descriptor 1024 is bit 0 of the first word past the 1024-bit set: the guard word.
    assert "the guard word after the set is now 0x1 (it was 0)" in result.stdout, result.stdout


# --- the harness and the twins on Windows ---------------------------------------------------

class FakeConfig:
    """Just what conftest's stage selection reads: the options, as if given on the command line."""

    def __init__(self, request, **options):
        self.options = {"--stage": [], "--exe": None, "as_stage": None,
                        "--build-dir": request.config.getoption("--build-dir"),
                        "--native-build-dir": request.config.getoption("--native-build-dir"),
                        **options}

    def getoption(self, name):
        return self.options[name]


def test_on_windows_the_twins_are_left_out_with_one_line_that_says_why(request, monkeypatch):
    import conftest
    monkeypatch.setattr(conftest, "ON_WINDOWS", True)
    config = FakeConfig(request)
    assert not any(stage.native for stage in conftest.selected_stages(config))
    header = conftest.pytest_report_header(config)
    assert header.startswith("Linux twins (stages/linux): not tested here: they are Linux "
                             "programs"), header
    with pytest.raises(pytest.UsageError, match="Linux programs"):
        conftest.selected_stages(FakeConfig(request, **{"--stage": ["linux/01"]}))
