"""Taught limits: what a stage cannot do yet, shown as behaviour (the note names each one)."""

import pytest

from harness import checks


@pytest.mark.needs("one_client_at_a_time")
def test_a_second_client_waits_until_the_first_leaves(address):
    checks.check_one_client_at_a_time(*address)


@pytest.mark.needs("client_limit")
@pytest.mark.parametrize("count", [63, 64, 65, 100])
def test_clients_around_the_default_fd_setsize_are_all_served(address, count):
    # 64 is Windows' default FD_SETSIZE: a stage that did not raise it would fail from 64 on.
    checks.check_concurrent_clients(*address, count=count)


@pytest.mark.needs("client_limit")
def test_500_clients_at_once(address):
    checks.check_concurrent_clients(*address, count=500)


@pytest.mark.needs("client_limit")
def test_one_client_over_max_clients_is_refused_with_a_line(launch, stage):
    server = launch.serve(stage, "--max-clients", "5")
    checks.check_limit_refuses_one_more(server.host, server.port, limit=5)
    server.wait_for_line(r"^refused a client")


@pytest.mark.needs("client_limit")
def test_one_client_over_the_real_limit_is_refused_with_a_line(address, stage):
    checks.check_limit_refuses_one_more(*address, limit=stage.settings["client_limit"])
