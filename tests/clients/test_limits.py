"""Taught limits: what a stage cannot do yet, shown as behaviour (the note names each one)."""

import pytest

from harness import checks


@pytest.mark.needs("one_client_at_a_time")
def test_a_second_client_waits_until_the_first_leaves(address):
    checks.check_one_client_at_a_time(*address)


@pytest.mark.needs("one_per_worker")
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_each_worker_serves_one_client_and_the_next_waits_in_the_port(launch, stage, workers):
    server = launch.serve(stage, "--workers", str(workers))
    checks.check_n_clients_at_a_time(server.host, server.port, workers)


@pytest.mark.needs("fd_setsize")
@pytest.mark.parametrize("count", [63, 64, 65, 100])
def test_clients_around_the_default_fd_setsize_are_all_served(address, count):
    # 64 is Windows' default FD_SETSIZE: a stage that did not raise it would fail from 64 on.
    checks.check_concurrent_clients(*address, count=count)


@pytest.mark.needs("fd_setsize")
def test_500_clients_at_once(address):
    checks.check_concurrent_clients(*address, count=500)


@pytest.mark.needs("max_clients_option")
def test_one_client_over_max_clients_is_refused_with_a_line(launch, stage):
    server = launch.serve(stage, "--max-clients", "5")
    checks.check_limit_refuses_one_more(server.host, server.port, limit=5)
    server.wait_for_line(r"^refused a client")


@pytest.mark.needs("client_limit")
def test_one_client_over_the_real_limit_is_refused_with_a_line(address, stage):
    checks.check_limit_refuses_one_more(*address, limit=stage.settings["client_limit"])


@pytest.mark.needs("one_per_worker")
def test_ctrl_c_with_clients_still_waiting_in_the_port_frees_them_all(launch, stage):
    server = launch.serve(stage, "--workers", "1")
    clients = [checks.connect(server.host, server.port) for _ in range(4)]
    try:
        server.wait_for_line(r"^client 4 connected")  # 1 served, 3 queued in the port
        assert server.stop() == 0, server.output_text()
        for number in range(1, 5):
            assert any(line.startswith(f"client {number} disconnected")
                       for line in server.stdout_lines), f"client {number} was never let go"
    finally:
        for sock in clients:
            sock.close()
