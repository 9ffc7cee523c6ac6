"""Taught limits: what a stage cannot do yet, shown as behaviour (the note names each one)."""

import pytest

from harness import checks


@pytest.mark.needs("one_client_at_a_time")
def test_a_second_client_waits_until_the_first_leaves(address):
    checks.check_one_client_at_a_time(*address)
