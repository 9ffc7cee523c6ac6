"""The benchmark report (bench/report.py) states the targets from the figures, and says
"not met" when they are not. Benchmarks themselves assert nothing; this checks the arithmetic
of the page that reports them."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import report  # noqa: E402  (bench/report.py)


def spread(value):
    return {"median": value, "min": value * 0.9, "max": value * 1.1}


def results(rate_07, rate_peer, memory_07=4300.0):
    servers = [{"name": "07 IOCP server", "connections": [1, 100, 1000, 10000], "why_not": ""},
               {"name": "asio, 2 threads", "connections": [1, 100, 1000], "why_not": ""},
               {"name": "asio, 4 threads", "connections": [1, 100, 1000], "why_not": ""},
               {"name": "04 select", "connections": [1], "why_not": "at most 1,023 clients"}]
    points = []
    for name, rate in (("07 IOCP server", rate_07), ("asio, 2 threads", rate_peer),
                       ("asio, 4 threads", rate_07)):
        for n in (1, 100, 1000):
            points.append({"server": name, "kind": "echo", "size": 64, "connections": n,
                           "runs": 3, "errors": 0, "rate": spread(rate), "p99_us": spread(900.0),
                           "memory_per_connection": spread(memory_07)})
    points.append({"server": "07 IOCP server", "kind": "echo", "size": 64, "connections": 10000,
                   "runs": 3, "errors": 0, "rate": spread(rate_07), "p99_us": spread(9e5),
                   "memory_per_connection": spread(memory_07)})
    points.append({"server": "04 select", "kind": "echo", "size": 64, "connections": 1,
                   "runs": 3, "errors": 3})
    return {"date": "2026-01-01", "machine": "m", "runtime": "r", "minutes": 1.0,
            "settings": {"runs": 3, "warmup_ms": 1, "duration_ms": 2, "setup_count": 3},
            "servers": servers, "points": points}


def test_targets_met():
    text = report.targets(results(rate_07=11000, rate_peer=5000))
    assert "2.20×" in text and "not met" not in text
    assert "4.2 KiB per connection" in text


def test_targets_not_met_are_said_so():
    text = report.targets(results(rate_07=11000, rate_peer=11000, memory_07=9000))
    assert text.count("**not met**") == 3  # 100 and 1,000 connections, and the memory


def test_tables_show_median_spread_gaps_and_errors():
    text = report.generated_text(results(rate_07=11000, rate_peer=5000))
    assert "11,000 <sub>9,900–12,100</sub>" in text  # median, then min–max
    assert "| 04 select | error |" in text               # every run failed
    assert "—" in text                                   # where a model was not run
    assert "- **04 select**: at most 1,023 clients." in text
