"""What only the Linux twins (stages/linux) do, shown as behaviour: poll() past descriptor 1023,
the descriptor limit as the client limit, SIGTERM, epoll workers at shutdown, an io_uring accept
armed again after EMFILE, io_uring's provided buffers (held only while an echo is sent, and what
happens when every one is held), and what select() does with descriptor 1024
(stages/linux/04_poll/fd_setsize_demo.cpp).

Their Windows twins' rows run from the other files (tests/harness/stages.py: linux/01, linux/04,
linux/07, linux/08). On Windows, none of this applies (conftest.py says so once).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
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


@pytest.mark.needs("descriptor_limit", "send_holds_no_worker")
def test_an_accept_that_fails_for_want_of_descriptors_is_armed_again(launch, stage):
    """The twin of stage 08 accepts on main while its workers refuse: refusals that overlap use
    the one spare descriptor and more, so the multishot accept fails with EMFILE, waits its pause
    and is armed again. Every client over the limit still gets its line, and then clients are
    served again: no accept is lost."""
    limit = 300 - stage.settings["descriptors_besides_clients"]
    server = start_with_descriptor_limit(launch, stage, 300, 300)
    server.wait_listening()
    members = [checks.connect(server.host, server.port) for _ in range(limit)]
    try:
        server.wait_for_line(rf"^client {limit} connected")
        extras = [checks.connect(server.host, server.port) for _ in range(4)]
        answers = [b""] * len(extras)

        def ask(index):
            extras[index].sendall(b"me too?\n")
            answers[index] = checks.recv_until_eof(extras[index])

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(extras))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for index, answer in enumerate(answers):
            assert answer.startswith(b"error: server full"), f"extra client {index}: {answer!r}"
        assert any(re.match(r"^accept failed: EMFILE .*; trying again in \d+ ms$", line)
                   for line in server.stdout_lines), \
            "the accept never ran out of descriptors: this test did not test the pause\n" + \
            server.output_text()
        for sock in extras:
            sock.close()
        members.pop().close()  # which client number that is depends on which worker was first
        server.wait_for_line(r"^client \d+ disconnected: closed by the client")
        checks.echo_round_trip(server.host, server.port, b"accepted again\n")
    finally:
        for sock in members:
            sock.close()


# --- io_uring's provided buffers (linux/08) -------------------------------------------------

@pytest.mark.needs("provided_buffers")
def test_an_idle_client_holds_no_receive_buffer(launch, stage):
    """A thousand silent clients on one ring with a single receive buffer, and others are still
    echoed: a pending receive takes its buffer only when bytes arrive (stage 08's pending WSARecv
    holds 4 KiB from the moment it is posted)."""
    server = launch.serve(stage, "--workers", "1", "--buffers", "1")
    silent = [checks.connect(server.host, server.port) for _ in range(1000)]
    try:
        server.wait_for_line(r"^client 1000 connected")
        for index in range(20):
            checks.echo_round_trip(server.host, server.port, b"one buffer is enough %d\n" % index)
        assert not any("lent out" in line for line in server.stdout_lines), server.output_text()
    finally:
        for sock in silent:
            sock.close()


@pytest.mark.needs("provided_buffers")
def test_taught_limit_readers_that_never_read_can_hold_every_buffer_until_one_leaves(launch,
                                                                                      stage):
    """The price of sharing: each client that does not read holds the buffer of its unsent echo,
    and with all of a ring's buffers held, another client's bytes wait (ENOBUFS) until one comes
    back. Four buffers, four deaf clients: the fifth is echoed only when a deaf one leaves."""
    server = launch.serve(stage, "--workers", "1", "--buffers", "4")
    deaf = [checks.connect(server.host, server.port) for _ in range(4)]
    other = None
    try:
        for sock in deaf:
            checks.fill_until_stuck(sock)
        other = checks.connect(server.host, server.port)
        other.sendall(b"is there a buffer?\n")
        server.wait_for_line(r"^worker 1: all 4 receive buffers are lent out")
        assert checks.nothing_arrives(other), "echoed with every buffer held by a deaf client"
        deaf.pop().close()
        assert checks.recv_exactly(other, 19) == b"is there a buffer?\n"
    finally:
        for sock in deaf:
            sock.close()
        if other:
            other.close()
    assert server.stop() == 0, server.output_text()
    assert any(re.match(r"^\d+ receives found every buffer lent out and waited for one$", line)
               for line in server.stdout_lines), server.output_text()


@pytest.mark.needs("provided_buffers")
def test_a_buffer_given_back_in_the_same_batch_reaches_the_client_that_found_none(launch, stage):
    """One buffer, two clients sending at the same moment, two thousand times. Often B's receive
    fails (ENOBUFS) while A's echo holds the buffer, and A's send completes in the same batch,
    ahead of B's failure: give_back() then finds nobody waiting, and B, parked after it, would
    wait for a buffer that is free — until A sends again, which it never does before its partner
    is echoed. Each round must end with both echoes."""
    server = launch.serve(stage, "--workers", "1", "--buffers", "1")
    a = checks.connect(server.host, server.port)
    b = checks.connect(server.host, server.port)
    try:
        for sock in (a, b):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for round_ in range(2000):
            a.sendall(b"a" * 16)
            b.sendall(b"b" * 16)
            assert checks.recv_exactly(a, 16) == b"a" * 16
            assert checks.recv_exactly(b, 16) == b"b" * 16, f"round {round_}"
    finally:
        a.close()
        b.close()
    assert server.stop() == 0, server.output_text()


@pytest.mark.needs("provided_buffers")
def test_ctrl_c_while_clients_wait_for_a_buffer_exits_0(launch, stage):
    """A client waiting for a buffer has no operation in flight, so cancelling the ring does not
    reach it: the worker must end it itself, or the shutdown waits for it for ever."""
    server = launch.serve(stage, "--workers", "1", "--buffers", "1")
    deaf = checks.connect(server.host, server.port)
    waiting = [checks.connect(server.host, server.port) for _ in range(3)]
    try:
        checks.fill_until_stuck(deaf)
        for sock in waiting:
            sock.sendall(b"waiting\n")
        server.wait_for_line(r"^worker 1: all 1 receive buffers are lent out")
        assert server.stop() == 0, server.output_text()
        gone = [line for line in server.stdout_lines if "disconnected: server stopping" in line]
        assert len(gone) == 4, server.output_text()
    finally:
        deaf.close()
        for sock in waiting:
            sock.close()


def start_with_fault(launch, stage, request, fault: str, *args: str):
    """The twin on a free port with the fault library `fault` (tests/unit/linux) preloaded."""
    return launch.start_argv(["env", f"LD_PRELOAD={demo(request, fault)}",
                              str(launch.program(stage)), *stage.extra_args, "--port", "0",
                              *args])


@pytest.mark.needs("provided_buffers")
def test_main_reaps_and_goes_on_when_the_kernel_says_ebusy(launch, stage, request):
    """io_uring_enter(2) answers EBUSY when completions overflowed and must be reaped first; the
    workers reap and go on, and main must too — in its accept loop and in its wait for the
    shutdown's messages — not stop or abort. Every other io_uring_submit_and_wait of main's
    thread is made to fail that way (uring_busy_once.so)."""
    server = start_with_fault(launch, stage, request, "uring_busy_once.so")
    server.wait_listening()
    checks.echo_round_trip(server.host, server.port, b"still accepting\n")
    assert server.stop() == 0, server.output_text()


@pytest.mark.needs("provided_buffers")
def test_ctrl_c_during_an_accept_pause_cancels_the_pause(launch, stage, request):
    """While the descriptor limit is reached, the multishot accept fails with EMFILE and main
    waits out a pause (a timeout on its ring) before it arms the accept again. Ctrl+C then must
    cancel the pause, not wait for its end: the fault library stretches every pause to an hour,
    so the server exits 0 only if it cancels."""
    fault = demo(request, "uring_long_pause.so")
    # A limit of six descriptors, all in use once it listens: stdin, stdout, stderr, the
    # listener, main's ring and the one worker's. Every accept finds none free.
    program = launch.program(stage)
    server = launch.start_argv(["sh", "-c", 'ulimit -n 6 && exec env LD_PRELOAD="$0" "$@"',
                                str(fault), str(program), *stage.extra_args, "--port", "0",
                                "--workers", "1"])
    server.wait_listening()
    assert len(descriptors_of(server.proc.pid)) == 6, server.output_text()
    with checks.connect(server.host, server.port):
        server.wait_for_line(r"^accept failed: EMFILE .*; trying again in \d+ ms$")
        assert server.stop() == 0, server.output_text()
    assert not any(re.match(r"^client \d+ connected", line) for line in server.stdout_lines), \
        server.output_text()


@pytest.mark.needs("provided_buffers")
def test_a_worker_that_cannot_make_its_ring_stops_the_server_before_it_listens(launch, stage,
                                                                                request):
    """Each worker makes its own ring on its own thread (IORING_SETUP_SINGLE_ISSUER: only the
    thread that made a ring may submit to it). When one cannot (the fault library fails the
    third ring the process makes: main's, then the workers'), the server must stop the workers
    that did start and exit 1 with the reason, before "listening on": not hang waiting for a
    ring that will never exist, nor deal clients to it, nor abort with threads still running."""
    server = start_with_fault(launch, stage, request, "uring_no_worker_ring.so", "--workers", "3")
    assert server.wait_exit() == 1, server.output_text()
    assert any(re.match(r"^error: a worker's ring: io_uring_queue_init: Cannot allocate memory$",
                        line) for line in server.stderr_lines), server.output_text()
    assert not any("listening on" in line for line in server.stdout_lines), server.output_text()


@pytest.mark.needs("provided_buffers")
def test_a_worker_thread_that_cannot_start_stops_the_server_before_it_listens(launch, stage,
                                                                               request):
    """Starting a thread can fail (EAGAIN at the process limit). The workers started before it
    may still be making their rings; main must hear from each before it gives up, or the
    shutdown that follows does not know their rings, cannot tell them to exit, and waits for
    ever to join them. The fault library refuses the second thread and makes every worker's
    ring 300 ms late, so the first worker is always still making its ring at that moment."""
    server = start_with_fault(launch, stage, request, "uring_no_second_thread.so", "--workers",
                              "3")
    assert server.wait_exit() == 1, server.output_text()
    assert any(line.startswith("error: ") for line in server.stderr_lines), server.output_text()
    assert not any("listening on" in line for line in server.stdout_lines), server.output_text()


@pytest.mark.needs("provided_buffers")
@pytest.mark.parametrize("count", ["3", "1000"])
def test_a_number_of_buffers_that_is_not_a_power_of_two_is_a_bad_argument(launch, stage, count):
    process = launch.start(stage, "--buffers", count)
    assert process.wait_exit() == 2
    assert any(f"--buffers {count} is not a power of two" in line
               for line in process.stderr_lines), process.output_text()
    assert any("usage:" in line for line in process.stderr_lines)


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
