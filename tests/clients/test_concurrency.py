"""Many clients at once: every stage from 02 on serves them side by side."""

import pytest

from harness import checks

pytestmark = pytest.mark.needs("concurrent")


def test_many_clients_at_once_each_get_their_own_bytes(address, stage):
    checks.check_concurrent_clients(*address, count=stage.settings.get("concurrent_clients", 200))


def test_a_silent_client_does_not_delay_another(address):
    checks.check_silent_client_does_not_delay_others(*address)


def test_a_client_that_never_reads_stalls_nobody(address):
    checks.check_a_client_that_never_reads_stalls_nobody(*address)
