"""The echo suite: every byte a client sends comes back, exactly, in order, to that client."""

import pytest

from harness import checks

pytestmark = pytest.mark.needs("echo")


def test_lines_come_back_exactly(address):
    checks.check_line_echo(*address)


def test_one_mib_of_binary_with_nul_bytes(address):
    checks.check_binary_echo(*address)


def test_200_small_writes_come_back_in_order(address):
    checks.check_small_writes_in_order(*address)


def test_half_close_gets_everything_then_end_of_stream(address):
    checks.check_half_close(*address)


def test_a_reset_mid_stream_does_not_stop_the_server(server, address):
    checks.check_survives_reset(*address)
    assert server.alive()


def test_clients_one_after_another(address):
    for index in range(20):
        checks.echo_round_trip(*address, f"client {index}\n".encode())
