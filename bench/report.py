"""Turns the ladder's results into the report: every generated block of notes/benchmarks.md
(between `<!-- generated:NAME:begin -->` and `<!-- generated:NAME:end -->`), notes/benchmarks.json
and notes/benchmarks.png.

    python3 bench/report.py build/bench/results.json     rewrite the report from saved results
    python3 bench/report.py notes/benchmarks.json        ... or from the report's own data

Every sentence of the page that states a figure is made here, from the data: a hand-written
figure could not follow the next run. The prose around them says why, and states none.

Two groups of servers are kept apart everywhere (see bench/run.py): "windows", the Windows
programs (under Wine on Linux), and "native", the programs built for the host with no Wine.
A native figure is never put in a Wine table or on a Wine plot's axes.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = [1, 10, 100, 1000, 10000]
SIZES = [64, 4096]
GROUPS = ["windows", "native"]
HTTP_PATHS = ["/about.txt", "/stats"]

# The targets (notes/benchmarks.md, "The targets"), each graded against the asio peer that has
# as many threads as the stage has workers: a peer with fewer threads loses by having too few
# requests in flight, which says nothing about the stage.
GRADED_STAGES = ["07", "08"]
RATE_TARGETS = [(1, 1.0), (100, 2.0), (1000, 2.0)]  # (connections, at least this × the peer)
MEMORY_TARGET_KIB, MEMORY_TARGET_CONNECTIONS = 8.0, 10000
# wineserver requests per echo are counted to explain what Wine costs, and graded against
# nothing: a design tuned to that count would be tuned to Wine, not to Windows.
# The native targets: each Linux twin at least level with the asio native peer that has as many
# threads as the twin has workers, and stage 08's twin holding 10,000 connections in little memory.
NATIVE_GRADED = ["07", "08"]
NATIVE_RATE_TARGETS = [(100, 1.0), (1000, 1.0)]
NATIVE_MEMORY_STAGE, NATIVE_MEMORY_TARGET_KIB = "08", 4.0
# Servers whose best rate from 10 connections on is within this share of the best of all are
# "at the ceiling".
CEILING_SHARE = 0.8
# bench/wineserver_requests.py keeps a kind of request when it comes at least this often per echo.
SHOWN_PER_ECHO = 0.1
# A ratio within this much of 1 is "level".
LEVEL = 0.1


# --- reading the results ---------------------------------------------------------------------

def servers(results, group: str | None = None) -> list[dict]:
    """The servers, in the ladder's order, each with its group and role (results saved before
    those were recorded: an "asio native" peer is native, the rest Windows programs)."""
    found = []
    for server in results["servers"]:
        server = dict(server)
        server.setdefault("group", "native" if "native" in server["name"] else "windows")
        server.setdefault("role", "peer" if server["name"].startswith("asio") else "stage")
        server.setdefault("threads", None)
        if group is None or server["group"] == group:
            found.append(server)
    return found


def names(results, group: str | None = None) -> list[str]:
    return [server["name"] for server in servers(results, group)]


def echo_points(results):
    return {(p["server"], p["size"], p["connections"]): p for p in results["points"]
            if p["kind"] == "echo"}


def median(results, server: str, size: int, n: int, metric: str = "rate") -> float | None:
    point = echo_points(results).get((server, size, n))
    return point[metric]["median"] if point and metric in point else None


def stage(results, number: str, group: str = "windows") -> dict | None:
    """The stage numbered `number` ("07") of a group (the Windows stage, or its Linux twin), if
    this run has it."""
    for server in servers(results, group):
        if server["role"] == "stage" and server["name"].startswith(number + " "):
            return server
    return None


def matched_peer(results, server: dict) -> dict | None:
    """The peer of the same group with as many threads as `server`."""
    for peer in servers(results, server["group"]):
        if peer["role"] == "peer" and peer["threads"] and peer["threads"] == server["threads"]:
            return peer
    return None


def other_peers(results, server: dict, peer: dict | None) -> list[dict]:
    return [p for p in servers(results, server["group"])
            if p["role"] == "peer" and (peer is None or p["name"] != peer["name"])]


def processors(results) -> int | None:
    match = re.match(r"(\d+) logical processors", results.get("machine", ""))
    return int(match.group(1)) if match else None


def group_label(results, group: str) -> str:
    if group == "native":
        return "Native programs (no Wine): the machine's ceiling"
    if "wine" in results.get("runtime", "").lower():
        return "Windows programs under Wine"
    return "Windows programs, native"


# --- formatting ------------------------------------------------------------------------------

def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def times(ratio: float) -> str:
    return f"{ratio:.2f}×"


def connections_text(n: int) -> str:
    return f"{n:,} connection{'s' if n != 1 else ''}"


def size_text(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def compared(ratio: float) -> str:
    """A ratio in words, by the one rule the whole page uses."""
    if ratio >= 1 + LEVEL:
        return "ahead"
    if ratio <= 1 - LEVEL:
        return "behind"
    return "level"


def who(name: str) -> str:
    """A server's name in a sentence: in italics, since names hold commas ("asio, 4 threads")."""
    return f"*{name}*"


def span(low: float, high: float, digits: int = 0) -> str:
    return num(low, digits) if num(low, digits) == num(high, digits) else \
        f"{num(low, digits)}–{num(high, digits)}"


def series(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def cell(point, metric, scale=1.0, digits=0, spread=True):
    if point is None:
        return ""
    if metric not in point:
        return "error" if point.get("errors") else "n/a"
    value = point[metric]
    text = num(value["median"] * scale, digits)
    if spread and value["max"] != value["min"]:
        text += f" <sub>{num(value['min'] * scale, digits)}–{num(value['max'] * scale, digits)}</sub>"
    return text


def table(results, group, size, metric, scale=1.0, digits=0, spread=True):
    points = echo_points(results)
    lines = ["| server | " + " | ".join(num(n) for n in CONNECTIONS) + " |",
             "|---|" + "---:|" * len(CONNECTIONS)]
    for server in servers(results, group):
        row = [cell(points.get((server["name"], size, n)), metric, scale, digits, spread)
               if n in server["connections"] else "—" for n in CONNECTIONS]
        lines.append(f"| {server['name']} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def duration(us: float, unit_of: float | None = None) -> str:
    """A round trip's time in the unit its size calls for (that of `unit_of` when given)."""
    scale = us if unit_of is None else unit_of
    if scale >= 1e6:
        return f"{us / 1e6:,.1f} s"
    return f"{us / 1e3:,.{2 if scale < 1e4 else 0}f} ms"


def duration_span(value: dict) -> str:
    low, high = value["min"], value["max"]
    if duration(low, high) == duration(high):
        return duration(high)
    return f"{duration(low, high).split()[0]}–{duration(high)}"


FAIRNESS_COLUMNS = ["round trips/s", "slowest connection's share of the mean",
                    "connections with no round trip in the window", "worst round trip"]


def fairness_cells(point: dict, n: int) -> list[str]:
    """A point's rate, fairness, starved connections and worst round trip, each as the range of
    its runs (one figure when they agree): the shape of the fairness table."""
    def ranged(metric, digits=0):
        if metric not in point:
            return "n/a"
        value = point[metric]
        return span(value["min"], value["max"], digits)
    starved = ranged("starved")
    if "starved" in point and point["starved"]["max"] > 0:
        starved = f"**{starved} of {num(n)}**"
    worst = duration_span(point["worst_us"]) if "worst_us" in point else "n/a"
    return [ranged("rate"), ranged("fairness", 2), starved, worst]


def fairness_table(results, server_names: list[str], n: int, size: int = 64) -> str:
    """Empty for results whose load generator counted no starved connections (older runs): the
    rate and fairness it would repeat are in their own tables."""
    points = echo_points(results)
    if not any("starved" in points.get((name, size, n), {}) for name in server_names):
        return ""
    lines = ["| server | " + " | ".join(FAIRNESS_COLUMNS) + " |",
             "|---|" + "---:|" * len(FAIRNESS_COLUMNS)]
    for name in server_names:
        point = points.get((name, size, n))
        if point is not None and "rate" in point:
            lines.append(f"| {name} | " + " | ".join(fairness_cells(point, n)) + " |")
    return "\n".join(lines)


# Issue 16's fairness targets, graded in the quick table against stage 07 of the same run.
FAIR_SHARE, WORST_OF_07 = 0.8, 2.0


def fairness_verdicts(results, n: int, size: int = 64) -> list[str]:
    """Each server but stage 07 against the fairness targets, by its worst run: no connection
    without a round trip, the slowest connection's share at least FAIR_SHARE, the worst round trip
    at most WORST_OF_07 times stage 07's worst."""
    points = echo_points(results)
    reference = stage(results, "07")
    mine07 = points.get((reference["name"], size, n)) if reference else None
    found = []
    for name in names(results):
        point = points.get((name, size, n))
        if (reference and name == reference["name"]) or not point or "starved" not in point:
            continue
        checks = [f"no connection without a round trip: {verdict(point['starved']['max'] == 0)}",
                  f"share ≥ {FAIR_SHARE:g} in every run: "
                  f"{verdict(point['fairness']['min'] >= FAIR_SHARE)}"]
        if mine07 and "worst_us" in mine07 and "worst_us" in point:
            limit = WORST_OF_07 * mine07["worst_us"]["max"]
            checks.append(f"worst round trip ≤ {WORST_OF_07:g}× stage 07's "
                          f"({duration(point['worst_us']['max'])} against "
                          f"{duration(mine07['worst_us']['max'])}): "
                          f"{verdict(point['worst_us']['max'] <= limit)}")
        found.append(f"{who(name)}: " + "; ".join(checks) + ".")
    return found


def quick_fairness_table(results) -> str:
    """bench/run.sh --quick-fairness's answer: every server side by side at each count run, and
    each against the fairness targets."""
    s = results["settings"]
    counts = sorted({p["connections"] for p in results["points"] if p["kind"] == "echo"})
    parts = []
    for n in counts:
        parts.append(f"{connections_text(n)}, 64-byte closed loop, {s['duration_ms'] / 1000:g} s "
                     f"windows after a warm-up of at least {s['warmup_ms'] / 1000:g} s, "
                     f"{s['runs']} runs (ranges: smallest–largest run), {results['date']}:\n\n"
                     + fairness_table(results, names(results), n))
        verdicts = fairness_verdicts(results, n)
        if verdicts:
            parts.append("\n".join(f"- {line}" for line in verdicts))
    return "\n\n".join(parts) if parts else "(no echo point in these results)"


def setup_table(results, group):
    lines = ["| server | connections accepted and served per second |", "|---|---:|"]
    wanted = names(results, group)
    for point in results["points"]:
        if point["kind"] == "setup" and point["server"] in wanted:
            lines.append(f"| {point['server']} | {cell(point, 'rate')} |")
    return "\n".join(lines)


# --- the targets -----------------------------------------------------------------------------

@dataclass
class Target:
    target: str
    measured: str
    met: bool | None  # None: not measured in this run
    kind: str = ""    # "rate" or "memory" where a summary counts them
    why: str = ""     # for a missed target: what the data say about the reason


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def skipped(results, number: str, group: str = "windows") -> dict | None:
    for entry in results.get("skipped", []):
        if entry["name"].startswith(number + " ") and entry.get("group", "windows") == group:
            return entry
    return None


def requests_per_echo(results, name: str) -> float | None:
    counted = results.get("wineserver_requests", {}).get("servers", {}).get(name)
    return counted["per_echo"] if counted else None


def target_rows(results) -> list[Target]:
    rows = []
    for number in GRADED_STAGES:
        server = stage(results, number)
        if server is None:
            why = skipped(results, number)
            rows.append(Target(f"stage {number}'s targets",
                               f"{why['name']}: {why['why']}" if why else "not part of this run",
                               None))
            continue
        peer = matched_peer(results, server)
        if peer is None:
            rows.append(Target(f"{server['name']} against an asio peer with {server['threads']} "
                               "threads", "no such peer in this run", None))
        else:
            others = other_peers(results, server, peer)
            for size in SIZES:
                for n, want in RATE_TARGETS:
                    mine = median(results, server["name"], size, n)
                    theirs = median(results, peer["name"], size, n)
                    if mine is None or theirs is None:
                        continue
                    measured = f"{times(mine / theirs)} ({num(mine)} against {num(theirs)})"
                    for other in others:
                        against = median(results, other["name"], size, n)
                        if against:
                            measured += f"; against {other['name']}: {times(mine / against)}"
                    rows.append(Target(f"{server['name']} ≥ {want:g}× {peer['name']} at "
                                       f"{connections_text(n)}, {size_text(size)}", measured,
                                       mine / theirs >= want))
        memory = median(results, server["name"], 64, MEMORY_TARGET_CONNECTIONS,
                        "memory_per_connection")
        if memory is not None:
            kib = memory / 1024
            rows.append(Target(f"{server['name']} holds {num(MEMORY_TARGET_CONNECTIONS)} "
                               f"connections under {MEMORY_TARGET_KIB:g} KiB each",
                               f"{num(kib, 1)} KiB per connection", kib < MEMORY_TARGET_KIB))
    return rows


def targets(results) -> str:
    return target_table(target_rows(results))


def target_table(rows: list[Target]) -> str:
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {row.target} | {row.measured} | {verdict(row.met)} |" for row in rows]
    return "\n".join(lines)


def not_there(results, name: str, size: int, n: int, metric: str = "rate") -> str | None:
    """Why a server has no figure at a point, or None when it has one."""
    point = echo_points(results).get((name, size, n))
    if point is None:
        return "not run"
    if metric not in point:
        return "every run failed" if point.get("errors") else f"no {metric} figure"
    return None


def good_runs(results, name: str, size: int, n: int) -> int:
    point = echo_points(results)[(name, size, n)]
    return point.get("runs", 1) - point.get("errors", 0)


def why_missed(results, name: str, peer: str, size: int, n: int) -> str:
    """A missed rate target explained from what the run sampled at that point. The rate is the
    cores the server kept busy divided by the CPU it spent per round trip, so the shortfall
    against the peer is one of the two, or both; the load generator shares the machine."""
    points = echo_points(results)
    mine, theirs = points[(name, size, n)], points[(peer, size, n)]
    rate_a, rate_b = mine["rate"]["median"], theirs["rate"]["median"]
    text = (f"{who(name)} at {connections_text(n)}, {size_text(size)}: {num(rate_a)} against "
            f"{num(rate_b)} round trips a second ({times(rate_a / rate_b)}).")
    if "server_cpu" in mine and "server_cpu" in theirs:
        cores_a, cores_b = mine["server_cpu"]["median"], theirs["server_cpu"]["median"]
        # Each run's own CPU per round trip where the run recorded it (the cost tables' figure),
        # else the quotient of the medians.
        us_a, us_b = (point["server_us_per_rt"]["median"] if "server_us_per_rt" in point
                      else cores / rate * 1e6 for point, cores, rate in
                      ((mine, cores_a, rate_a), (theirs, cores_b, rate_b)))
        text += (f" It spent {num(us_a, 1)} µs of CPU per round trip, {who(peer)} "
                 f"{num(us_b, 1)} µs, and kept {num(cores_a, 2)} cores busy against "
                 f"{num(cores_b, 2)}")
        costlier, idler = us_a > us_b, cores_a < cores_b
        text += (": it lost on both, more CPU per round trip and fewer cores busy." if costlier
                 and idler else ": it lost on the CPU per round trip, not on the cores kept busy."
                 if costlier else ": it lost on the cores kept busy, not on the CPU per round "
                 "trip.")
    if all("loadgen_cpu" in p and "server_cpu" in p for p in (mine, theirs)):
        # On a small machine the load generator and the server share the cores.
        load_a, load_b = mine["loadgen_cpu"]["median"], theirs["loadgen_cpu"]["median"]
        both_a = load_a + mine["server_cpu"]["median"]
        both_b = load_b + theirs["server_cpu"]["median"]
        cores = processors(results)
        of = f" of {cores}" if cores else ""
        text += (f" The load generator used {num(load_a, 2)} cores against it ({num(both_a, 2)}"
                 f"{of} with the server), {num(load_b, 2)} against the peer ({num(both_b, 2)}).")
    low_a, high_a = mine["rate"]["min"], mine["rate"]["max"]
    low_b, high_b = theirs["rate"]["min"], theirs["rate"]["max"]
    if min(good_runs(results, name, size, n), good_runs(results, peer, size, n)) < 2:
        text += " One run only: this run has no spread to judge the difference by."
    elif high_a >= low_b:
        text += (f" The runs overlap ({span(low_a, high_a)} against {span(low_b, high_b)}): the "
                 "difference is within this run's spread.")
    else:
        text += (f" The runs do not overlap ({span(low_a, high_a)} against "
                 f"{span(low_b, high_b)}): the gap is larger than this run's spread.")
    return text


def unmatched(results, server: dict) -> str:
    """Why a twin has no peer with as many threads."""
    if not server["threads"]:
        return ("no worker count recorded in this run (run without --workers), so no peer "
                "with as many threads can be matched")
    peers = [who(p["name"]) for p in servers(results, server["group"]) if p["role"] == "peer"]
    return (f"no asio native peer with {server['threads']} threads in this run"
            + (f"; there were {series(peers)}" if peers else ""))


def native_target_rows(results) -> list[Target]:
    """The Linux twins against the asio native peer with as many threads, and stage 08's twin's
    memory per connection."""
    rows = []
    for number in NATIVE_GRADED:
        server = stage(results, number, "native")
        if server is None:
            why = skipped(results, number, "native")
            rows.append(Target(f"the Linux twin of stage {number}",
                               f"{why['name']}: {why['why']}" if why else "not part of this run",
                               None, "rate"))
            continue
        peer = matched_peer(results, server)
        if peer is None:
            rows.append(Target(f"{server['name']} ≥ 1× asio native with as many threads",
                               unmatched(results, server), None, "rate"))
        else:
            for size in SIZES:
                for n, want in NATIVE_RATE_TARGETS:
                    wanted = (f"{server['name']} ≥ {want:g}× {peer['name']} at "
                              f"{connections_text(n)}, {size_text(size)}")
                    gaps = [f"{name}: {why}" for name in (server["name"], peer["name"])
                            for why in [not_there(results, name, size, n)] if why]
                    if gaps:
                        rows.append(Target(wanted, "; ".join(gaps), None, "rate"))
                        continue
                    mine = median(results, server["name"], size, n)
                    theirs = median(results, peer["name"], size, n)
                    met = mine / theirs >= want
                    rows.append(Target(wanted, f"{times(mine / theirs)} ({num(mine)} against "
                                               f"{num(theirs)})", met, "rate",
                                       "" if met else why_missed(results, server["name"],
                                                                 peer["name"], size, n)))
        if number == NATIVE_MEMORY_STAGE:
            rows.append(native_memory_row(results, server))
    return rows


def native_memory_figures(results, name: str) -> list[tuple[int, float]]:
    """(message size, KiB per connection) at 10,000 connections, where measured."""
    points = echo_points(results)
    n = MEMORY_TARGET_CONNECTIONS
    return [(size, points[(name, size, n)]["memory_per_connection"]["median"] / 1024)
            for size in SIZES if "memory_per_connection" in points.get((name, size, n), {})]


def native_memory_row(results, server: dict) -> Target:
    n = MEMORY_TARGET_CONNECTIONS
    wanted = (f"{server['name']} holds {num(n)} connections under "
              f"{NATIVE_MEMORY_TARGET_KIB:g} KiB each")
    figures = native_memory_figures(results, server["name"])
    if not figures:
        gaps = [f"{size_text(size)}, "
                f"{not_there(results, server['name'], size, n, 'memory_per_connection')}"
                for size in SIZES]
        return Target(wanted, f"no figure at {num(n)} connections: " + "; ".join(gaps), None,
                      "memory")
    # Graded at every message size measured: a buffer per connection would show at 4 KiB.
    return Target(wanted, ", ".join(f"{num(kib, 1)} KiB per connection with {size_text(size)} "
                                    "messages" for size, kib in figures),
                  all(kib < NATIVE_MEMORY_TARGET_KIB for _, kib in figures), "memory")


def native_targets(results) -> str:
    rows = native_target_rows(results)
    text = target_table(rows)
    missed = [row.why for row in rows if row.why]
    if missed:
        text += ("\n\nWhere a native target is missed, what this run measured there (medians; CPU "
                 "per round trip is the server's cores busy divided by its rate):\n\n"
                 + "\n".join(f"- {why}" for why in missed))
    return text


def native_summary(results) -> str:
    """The native targets' outcome in a sentence, for the summary."""
    rows = native_target_rows(results)
    parts, reasons = [], []
    for number in NATIVE_GRADED:
        server = stage(results, number, "native")
        name = server["name"] if server else f"the Linux twin of stage {number}"
        graded = [r for r in rows if r.kind == "rate" and r.met is not None
                  and r.target.startswith(name + " ≥")]
        if graded:
            parts.append(f"{who(name)} met {sum(1 for r in graded if r.met)} of {len(graded)}")
        else:
            why = next((r.measured for r in rows if r.kind == "rate" and r.met is None
                        and r.target.startswith(name)), "not part of this run")
            parts.append(f"{who(name) if server else name} not graded, {why}")
            reasons.append(why)
    if len(reasons) == len(parts) and len(set(reasons)) == 1:  # one reason for all: said once
        parts = [f"none graded: {reasons[0]}"]
    text = ("Against asio native with as many threads, rate targets (at least level at "
            + series([num(n) for n, _ in NATIVE_RATE_TARGETS]) + " connections, both message "
            "sizes): " + "; ".join(parts) + ".")
    memory = next((r for r in rows if r.kind == "memory"), None)
    if memory and memory.met is not None:
        name = stage(results, NATIVE_MEMORY_STAGE, "native")["name"]
        kib = max(kib for _, kib in native_memory_figures(results, name))
        text += (f" {who(name)} held {num(MEMORY_TARGET_CONNECTIONS)} connections at "
                 f"{num(kib, 1)} KiB each at most (target: under {NATIVE_MEMORY_TARGET_KIB:g} "
                 f"KiB, {verdict(memory.met)}).")
    elif memory:
        name = stage(results, NATIVE_MEMORY_STAGE, "native")["name"]
        text += f" {who(name)}'s memory target was not measured: {memory.measured}."
    return text


# --- wineserver requests per echo ------------------------------------------------------------

def requests_table(results) -> str:
    counted = results.get("wineserver_requests", {}).get("servers", {})
    if not counted:
        return "(not counted in this run: `bench/wineserver_requests.py` counts them)"
    lines = ["| server | wineserver requests per echo | the most frequent, per echo | counted on |",
             "|---|---:|---|---|"]
    for name in names(results, "windows") + [n for n in counted if n not in names(results)]:
        if name in counted:
            entry = counted[name]
            kinds = ", ".join(f"`{kind}` {num(value, 1)}" for kind, value in
                              list(entry["kinds"].items())[:6])
            lines.append(f"| {name} | {num(entry['per_echo'], 1)} | {kinds} | {entry['date']} |")
    return "\n".join(lines)


def requests_side_by_side(results) -> str:
    """Stage 07 and stage 08 kind by kind, with 07's matched asio peer: what the fully
    asynchronous design adds and removes per echo."""
    counted = results.get("wineserver_requests", {}).get("servers", {})
    columns, empty = [], {}
    for number in ("07", "08", "10"):
        server = stage(results, number)
        why = skipped(results, number)
        if number == "10" and not server:
            continue  # the last rung: a column only once it has run
        if server and server["name"] in counted:
            columns.append((server["name"], counted[server["name"]]))
        else:
            label = server["name"] if server else why["name"] if why else f"stage {number}"
            columns.append((label, None))
            empty[label] = "not built" if why else "not counted"
    reference = stage(results, "07")
    peer = matched_peer(results, reference) if reference else None
    if peer and peer["name"] in counted:
        columns.append((peer["name"], counted[peer["name"]]))
    kinds = []
    for _, entry in columns:
        for kind in (entry or {}).get("kinds", {}):
            if kind not in kinds:
                kinds.append(kind)
    lines = ["| request | " + " | ".join(name for name, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    rare = f"<{SHOWN_PER_ECHO:g}"  # counted, but too rare per echo to be kept by kind
    for kind in kinds:
        lines.append(f"| `{kind}` | " + " | ".join(
            (num(entry["kinds"][kind], 2) if kind in entry["kinds"] else rare) if entry
            else empty[name] for name, entry in columns) + " |")
    lines.append("| **all requests** | " + " | ".join(
        f"**{num(entry['per_echo'], 1)}**" if entry else empty[name]
        for name, entry in columns) + " |")
    return "\n".join(lines)


# --- sentences made from the data ------------------------------------------------------------

def echo_range(results, name: str, size: int, metric: str = "rate",
               from_n: int = 1) -> tuple[float, float] | None:
    values = [v for n in CONNECTIONS if n >= from_n
              for v in [median(results, name, size, n, metric)] if v is not None]
    return (min(values), max(values)) if values else None


def ceiling(results, group: str = "windows", size: int = 64) -> tuple[list[str], float, float]:
    """The servers at the ceiling from 10 connections on, and the range of their medians."""
    best = {name: r[1] for name in names(results, group)
            for r in [echo_range(results, name, size, from_n=10)] if r}
    if not best:
        return [], 0.0, 0.0
    top = max(best.values())
    at = [name for name, value in best.items() if value >= CEILING_SHARE * top]
    ranges = [echo_range(results, name, size, from_n=10) for name in at]
    return at, min(r[0] for r in ranges), max(r[1] for r in ranges)


def metric_range(results, server_names, metric, size=64, from_n=10) -> tuple[float, float] | None:
    values = [v for name in server_names for n in CONNECTIONS if n >= from_n
              for v in [median(results, name, size, n, metric)] if v is not None]
    return (min(values), max(values)) if values else None


def one_connection_sentence(results, size=64) -> str:
    rates = [(median(results, name, size, 1), name) for name in names(results, "windows")]
    rates = sorted(((rate, name) for rate, name in rates if rate is not None), reverse=True)
    if not rates:
        return ""
    parts = []
    for rate, name in rates:
        count = requests_per_echo(results, name)
        parts.append(f"{who(name)} {num(rate)}" +
                     (f" ({num(count, 1)} requests per echo)" if count is not None else ""))
    return ("**One connection** is pure latency, each echo waiting for its chain of requests. "
            f"Round trips a second at one connection, {size}-byte messages: "
            + "; ".join(parts) + ".")


def ceiling_sentence(results, size=64) -> str:
    at, low, high = ceiling(results, "windows", size)
    if not at:
        return ""
    if len(at) == 1:
        text = (f"**From 10 connections on**, only {who(at[0])} was measured in this run: "
                f"{span(low, high)} round trips a second (medians, {size}-byte messages).")
    else:
        text = (f"**From 10 connections on**, {series([who(n) for n in at])} meet the same "
                f"ceiling: {span(low, high)} round trips a second (medians, {size}-byte messages).")
    cpu = {metric: metric_range(results, at, metric, size)
           for metric in ("server_cpu", "wineserver_cpu", "loadgen_cpu")}
    cores = processors(results)
    if all(cpu.values()):
        server_max, wineserver_max = cpu["server_cpu"][1], cpu["wineserver_cpu"][1]
        # wineserver is one thread: one core is all it can use.
        saturated = wineserver_max >= 0.9 or (cores is not None and server_max >= 0.9 * cores)
        text += (" " + ("Something is saturated there" if saturated else
                        "None of the processes is saturated there")
                 + f": the server uses {span(cpu['server_cpu'][0], server_max, 2)} cores, "
                 f"wineserver {span(cpu['wineserver_cpu'][0], wineserver_max, 2)} (one thread: "
                 f"at most 1), the load generator {span(*cpu['loadgen_cpu'], 2)}"
                 + (f", of {cores} cores." if cores else "."))
    below = []
    for name in names(results, "windows"):
        reached = echo_range(results, name, size)
        if name not in at and reached:
            below.append(f"{who(name)} {span(*reached)}")
    if below:
        text += " The others stay below it at every count they ran: " + "; ".join(below) + "."
    return text


def served_sentence(results, group: str) -> str:
    """Which servers kept every connection served: in every run at every point they ran, every
    connection completed at least one round trip in the window. Empty when not measured."""
    kept, starving = [], []
    for name in names(results, group):
        measured = [p for p in results["points"] if p["kind"] == "echo" and p["server"] == name
                    and "starved" in p]
        if not measured:
            continue
        worst = max(measured, key=lambda p: (p["starved"]["max"] / p["connections"],
                                             p["connections"]))
        if worst["starved"]["max"] == 0:
            kept.append(who(name))
            continue
        text = (f"{who(name)} left {span(worst['starved']['min'], worst['starved']['max'])} of "
                f"{num(worst['connections'])} without one ({size_text(worst['size'])})")
        if "worst_us" in worst:
            text += f", its worst round trip {duration_span(worst['worst_us'])}"
        starving.append(text)
    if not kept and not starving:
        return ""
    text = ""
    if kept:
        text += ("Every connection completed at least one round trip in every measured window, "
                 "at every count run, with " + series(kept) + ".")
    if starving:
        text += (" " if text else "") + "Not with " + "; ".join(starving) + (
            ": a connection waited the whole window while the others were served.")
    return text


COST_CONNECTIONS = [100, 1000]


def cost_sentences(results, group: str = "native", size: int = 64) -> list[str]:
    """What a round trip costs the servers that serve with one thread, one against the other:
    CPU microseconds and system calls, medians, the cheapest first; empty when not measured."""
    found = []
    single = [s["name"] for s in servers(results, group) if s["threads"] == 1]
    for n in COST_CONNECTIONS:
        costs = [(median(results, name, size, n, "server_us_per_rt"),
                  median(results, name, size, n, "server_syscalls_per_rt"), name)
                 for name in single]
        costs = sorted((us, calls, name) for us, calls, name in costs if us is not None)
        if len(costs) < 2:
            continue
        text = f"At {connections_text(n)}: " + "; ".join(
            f"{who(name)} {num(us, 1)} µs" + (f", {num(calls, 2)} system calls"
                                              if calls is not None else "")
            for us, calls, name in costs) + f". The least CPU: {who(costs[0][2])}"
        counted = [(calls, name) for _, calls, name in costs if calls is not None]
        if counted:
            text += f"; the fewest system calls: {who(min(counted)[1])}"
        found.append(text + ".")
    return found


def fairness_sentence(results, n=1000, size=64) -> str:
    found = sorted((value, name) for name in names(results, "windows")
                   for value in [median(results, name, size, n, "fairness")] if value is not None)
    if not found:
        return ""
    return (f"At {connections_text(n)} the slowest connection got, of the mean's round trips: "
            + ", ".join(f"{num(value, 2)} with {who(name)}" for value, name in found)
            + " (1.00 is perfectly fair).")


FAIRNESS_AT = 1000  # the fairness table's connections: where a starved connection shows first

MEMORY_FROM = 100  # below, a page more or less of the process's memory swamps the figure


def memory_figures(results, group="windows", size=64) -> list[tuple[float, str, int]]:
    """(KiB per connection, server, connections) at the most connections each server ran, for
    the servers that ran MEMORY_FROM connections or more; the largest first."""
    found = []
    for name in names(results, group):
        counts = [n for n in CONNECTIONS if n >= MEMORY_FROM and
                  median(results, name, size, n, "memory_per_connection") is not None]
        if counts:
            n = max(counts)
            found.append((median(results, name, size, n, "memory_per_connection") / 1024, name, n))
    return sorted(found, reverse=True)


def memory_sentence(results, group="windows", size=64) -> str:
    return ", ".join(f"{num(kib, 1)} KiB for {who(name)} (at {num(n)})"
                     for kib, name, n in memory_figures(results, group, size))


def best(results, group, size=64) -> tuple[float, str, int] | None:
    found = [(median(results, name, size, n), name, n) for name in names(results, group)
             for n in CONNECTIONS if median(results, name, size, n) is not None]
    return max(found) if found else None


def loadgen_sentence(results) -> str:
    usage = metric_range(results, names(results, "windows"), "loadgen_cpu", 64, from_n=1)
    if not usage:
        return "(no load generator figures in this run)"
    text = (f"Against the Windows programs it used at most {num(usage[1], 2)} of a core "
            "(its own table below)")
    wine_best, native_best = best(results, "windows"), best(results, "native")
    if wine_best and native_best:
        text += (f"; against {who(native_best[1])} the same program drove {num(native_best[0])} "
                 f"round trips a second, {native_best[0] / wine_best[0]:.1f}× the best median "
                 f"under Wine ({num(wine_best[0])}, {who(wine_best[1])})")
    return text + "."


def conclusions(results) -> list[str]:
    """Five lines: what to take away, every figure from the data."""
    lines = []
    at, low, high = ceiling(results)
    if len(at) > 1:
        lines.append(f"Under Wine the ceiling is wineserver's, not the design's: from 10 "
                     f"connections on, {series([who(n) for n in at])} all land at "
                     f"{span(low, high)} round trips a second (64-byte messages).")
    elif at:
        lines.append(f"From 10 connections on, only {who(at[0])} was measured in this run: "
                     f"{span(low, high)} round trips a second (64-byte messages).")
    else:
        lines.append("No Windows program ran 10 connections or more in this run.")

    graded = []
    for number in GRADED_STAGES:
        server = stage(results, number)
        peer = matched_peer(results, server) if server else None
        if not peer:
            continue
        ratios = [(n, median(results, server["name"], 64, n), median(results, peer["name"], 64, n))
                  for n, _ in RATE_TARGETS]
        ratios = [f"{times(mine / theirs)} at {num(n)}" for n, mine, theirs in ratios
                  if mine and theirs]
        rows = [row for row in target_rows(results)
                if row.target.startswith(server["name"] + " ≥")]
        graded.append(f"{who(server['name'])} against {who(peer['name'])} (as many threads): "
                      f"{', '.join(ratios)} connections (64-byte messages); "
                      f"{sum(1 for row in rows if row.met)} of {len(rows)} rate targets met "
                      "(both message sizes)")
    lines.append("; ".join(graded) + "." if graded else
                 "No stage could be graded against a peer with as many threads in this run.")

    figures = memory_figures(results)
    if figures:
        keep = {figures[0][1], figures[-1][1]}
        for number in GRADED_STAGES:
            server = stage(results, number)
            peer = matched_peer(results, server) if server else None
            keep |= {x["name"] for x in (server, peer) if x}
        lines.append("Memory per connection tells the models apart best: " + ", ".join(
            f"{num(kib, 1)} KiB for {who(name)} (at {num(n)} connections)"
            for kib, name, n in figures if name in keep) + ".")
    else:
        lines.append("No memory figures in this run.")

    counted = results.get("wineserver_requests", {}).get("servers", {})
    parts = []
    for number in ("07", "08"):
        server = stage(results, number)
        count = requests_per_echo(results, server["name"]) if server else None
        if count is not None:
            parts.append(f"{num(count, 1)} for {who(server['name'])}")
        else:
            why = skipped(results, number)
            parts.append(f"none yet for stage {number}" + (f" ({why['why']})" if why else ""))
    reference = stage(results, "07")
    peer = matched_peer(results, reference) if reference else None
    if peer and peer["name"] in counted:
        parts.append(f"{num(counted[peer['name']]['per_echo'], 1)} for {who(peer['name'])}")
    lines.append("wineserver requests per echo, what an echo costs under Wine (an explanation, "
                 "not a target): " + ", ".join(parts) + "." if counted else
                 "wineserver requests per echo were not counted in this run.")

    wine_best, native_best = best(results, "windows"), best(results, "native")
    lines.append(
        f"Natively, with no wineserver, {who(native_best[1])} reaches {num(native_best[0])} round "
        f"trips a second (at {connections_text(native_best[2])}), "
        f"{native_best[0] / wine_best[0]:.1f}× the best figure under Wine ({num(wine_best[0])}, "
        f"{who(wine_best[1])} at {connections_text(wine_best[2])}): these Wine figures rank "
        "designs under Wine, not on Windows. " + native_summary(results)
        if wine_best and native_best else
        "No native run in this data: nothing here measures the machine without Wine.")
    return lines


def http_points(results):
    return {(p["server"], p["path"], p["connections"]): p for p in results["points"]
            if p["kind"] == "http"}


def http_sentences(results) -> list[str]:
    points = http_points(results)
    http_servers = results.get("http_servers", [])
    stages = [s for s in http_servers if not s.startswith("asio")]
    peers = [s for s in http_servers if s.startswith("asio")]
    if not stages or not peers:
        return ["(stage 09 or its peer was not part of this run)"]
    mine, theirs = stages[0], peers[0]
    counts = sorted({n for (_, _, n) in points})
    sizes = results.get("http_files", {})
    found = []
    for path in HTTP_PATHS:
        pairs = [(n, points.get((mine, path, n)), points.get((theirs, path, n))) for n in counts]
        pairs = [(n, a["rate"]["median"], b["rate"]["median"]) for n, a, b in pairs
                 if a and b and "rate" in a and "rate" in b]
        if not pairs:
            continue
        what = f"`{path}`" + (f" ({num(sizes[path])} bytes)" if path in sizes else "")
        found.append(
            f"{what}, {who(mine)} against {who(theirs)}: " + "; ".join(
                f"{compared(a / b)} at {connections_text(n)} "
                f"({num(a)} against {num(b)} requests a second, {times(a / b)})"
                for n, a, b in pairs) + ".")
    middle = [n for n in counts if 1 < n < max(counts)]
    if middle:
        n = middle[0]
        tails = []
        for path in HTTP_PATHS:
            a, b = points.get((mine, path, n)), points.get((theirs, path, n))
            if a and b and "p99_us" in a and "p99_us" in b:
                tails.append(f"`{path}` {num(a['p99_us']['median'] / 1000, 2)} ms against "
                             f"{num(b['p99_us']['median'] / 1000, 2)} ms")
        if tails:
            found.append(f"p99 at {connections_text(n)}, {who(mine)} against {who(theirs)}: "
                         + "; ".join(tails) + ".")
    return found


# --- the blocks of the page ------------------------------------------------------------------

def summary_block(results) -> str:
    return ("**What to conclude** (from the run of " + results["date"] + "; every figure below "
            "is computed from [benchmarks.json](benchmarks.json)):\n\n"
            + "\n".join(f"{i}. {line}" for i, line in enumerate(conclusions(results), 1)))


def measured_block(results) -> str:
    return "**The load generator is not the bottleneck.** " + loadgen_sentence(results)


def reading_block(results) -> str:
    parts = [requests_table(results),
             "Stage 07 and stage 08 side by side, with the asio peer that has as many threads "
             "where it was counted (requests per echo, by kind):",
             requests_side_by_side(results)]
    bullets = [one_connection_sentence(results), ceiling_sentence(results)]
    fairness = fairness_sentence(results)
    if fairness:
        bullets.append("**Latency grows with connections** for everyone, as a closed loop must: "
                       "with N connections and a ceiling of R round trips a second, each waits "
                       "about N / R. What differs is the tail. " + fairness)
    served = {group: served_sentence(results, group) for group in GROUPS}
    if any(served.values()):
        bullets.append("**Which servers keep every connection served.** " + " ".join(
            f"{label}: {served[group]}" for group, label in
            (("windows", "Under Wine" if "wine" in results.get("runtime", "").lower()
              else "The Windows programs"), ("native", "Natively")) if served[group]))
    memory = memory_sentence(results)
    if memory:
        bullets.append("**Memory per connection**, at the most connections each model ran (from "
                       f"{num(MEMORY_FROM)} on): " + memory + ".")
    parts.append("\n".join(f"- {b}" for b in bullets if b))
    return "\n\n".join(parts)


def http_block(results) -> str:
    return "\n".join(f"- {line}" for line in http_sentences(results))


def http_table(results, metric, scale=1.0, digits=0):
    points = http_points(results)
    counts = sorted({n for (_, _, n) in points})
    if not counts:
        return "(no HTTP points in this run)"
    lines = ["| server | path | " + " | ".join(num(n) for n in counts) + " |",
             "|---|---|" + "---:|" * len(counts)]
    for server in results.get("http_servers", []):
        for path in HTTP_PATHS:
            row = [cell(points.get((server, path, n)), metric, scale, digits) for n in counts]
            lines.append(f"| {server} | `{path}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def group_tables(results, group: str, level: str = "####") -> list[str]:
    tables = [
        ("Round trips per second, 64-byte messages", table(results, group, 64, "rate")),
        ("Round trips per second, 4 KiB messages", table(results, group, 4096, "rate")),
        ("p99 latency (ms), 64-byte messages", table(results, group, 64, "p99_us", 1e-3, 2)),
        ("p99 latency (ms), 4 KiB messages", table(results, group, 4096, "p99_us", 1e-3, 2)),
        ("p50 and p99.9 latency (ms), 64-byte messages",
         "p50:\n\n" + table(results, group, 64, "p50_us", 1e-3, 2, False) + "\n\np99.9:\n\n"
         + table(results, group, 64, "p999_us", 1e-3, 2, False)),
        (f"Every connection served? Rate, fairness and the worst round trip at "
         f"{num(FAIRNESS_AT)} connections, 64-byte messages (ranges: smallest–largest run)",
         fairness_table(results, names(results, group), FAIRNESS_AT)),
        ("Fairness (the slowest connection's round trips ÷ the mean), 64-byte messages",
         table(results, group, 64, "fairness", 1, 2, False)),
        ("Connections that completed no round trip in the window, 64-byte messages",
         table(results, group, 64, "starved", 1, 0, False)),
        ("The worst round trip (ms; one still in flight at the window's end counts with its "
         "age), 64-byte messages", table(results, group, 64, "worst_us", 1e-3, 1, False)),
        ("Server memory per connection (KiB), 64-byte messages",
         table(results, group, 64, "memory_per_connection", 1 / 1024, 1, False)),
        ("Server CPU (cores busy), 64-byte messages",
         table(results, group, 64, "server_cpu", 1, 2, False)),
        ("Server CPU per round trip (µs), 64-byte messages",
         table(results, group, 64, "server_us_per_rt", 1, 1, False)),
        ("Server system calls per round trip, 64-byte messages",
         table(results, group, 64, "server_syscalls_per_rt", 1, 2, False)),
    ]
    if group == "windows" and "wine" in results.get("runtime", "").lower():
        tables += [("wineserver CPU (cores busy) while serving, 64-byte messages",
                    table(results, group, 64, "wineserver_cpu", 1, 2, False)),
                   ("wineserver CPU per round trip (µs), 64-byte messages",
                    table(results, group, 64, "wineserver_us_per_rt", 1, 1, False)),
                   ("wineserver system calls per round trip, 64-byte messages",
                    table(results, group, 64, "wineserver_syscalls_per_rt", 1, 2, False))]
    tables += [
        ("The load generator's own CPU (cores busy), 64-byte messages",
         table(results, group, 64, "loadgen_cpu", 1, 2, False)),
        ("The load generator's CPU per round trip (µs), 64-byte messages",
         table(results, group, 64, "loadgen_us_per_rt", 1, 1, False)),
        ("Connection setup", setup_table(results, group)),
    ]
    # A table with no figure in it (that size or metric was not run or not recorded) is left
    # out; a failed run shows as "error" in the tables that have figures.
    def has_figures(body: str) -> bool:
        return any(cell.strip() not in ("", "—", "n/a", "error")
                   for line in body.splitlines()
                   if line.startswith("| ") and not line.startswith("| server |")
                   for cell in line.split("|")[2:-1])
    return [f"{level} {title}\n\n{body}" for title, body in tables if has_figures(body)]


def has_echo_data(results, group: str) -> bool:
    wanted = set(names(results, group))
    return any(p["kind"] == "echo" and p["server"] in wanted for p in results["points"])


def not_run_text(results) -> str:
    lines = [f"- **{x['name']}**: {x['why_not']}." for x in servers(results) if x["why_not"]]
    lines += [f"- **{x['name']}**: skipped, {x['why']}." for x in results.get("skipped", [])]
    return "\n".join(lines) if lines else "(every model ran at every count)"


def method_text(settings: dict) -> str:
    """How the run was pinned and what it counted, from its settings (said only when recorded)."""
    text = ""
    if "warmup_round_trips" in settings:
        text += (f" The warm-up also lasted at least {settings['warmup_round_trips']} round trips "
                 "per connection on average, so that connections are not measured in lockstep.")
    pin = settings.get("pin")
    if pin == "native":
        text += (" Pinned (taskset): the load generator on core 0 and each native program on the "
                 "other cores; the Windows programs under Wine were not pinned.")
    elif pin == "all":
        text += (" Pinned (taskset): the load generator on core 0 and every server, with "
                 "wineserver, on the other cores.")
    elif pin == "none":
        text += " Nothing was pinned to a core."
    if settings.get("syscalls"):
        text += (f" System calls per round trip: perf counting `{settings['syscalls']}` over the "
                 "measured window, divided by the round trips completed in it.")
    elif "syscalls" in settings:
        text += " System calls were not counted in this run."
    return text


def results_block(results) -> str:
    s = results["settings"]
    parts = [
        f"Measured on {results['date']}: {results['machine']}; {results['runtime']}. "
        f"Each point ran {s['runs']} times, servers interleaved; a cell is the median, with the "
        f"smallest and largest run in small type. Warm-up {s['warmup_ms']} ms, then "
        f"{s['duration_ms']} ms measured (longer from 10,000 connections on: a tenth and three "
        f"tenths of a millisecond per connection, so that each connection completes several "
        f"round trips)." + method_text(s) + f" The whole ladder took {results['minutes']} "
        f"minutes; `bench/run.sh` made this section, the plot and `benchmarks.json`.",
        "### Targets\n\n" + targets(results),
    ]
    if has_echo_data(results, "native"):
        parts[-1] += ("\n\nThe Linux twins' targets, against the native peer, are graded with "
                      "the native programs below.")
    for group in GROUPS:
        if has_echo_data(results, group):
            parts.append(f"### {group_label(results, group)}")
            if group == "native":
                parts.append("#### Targets: the Linux twins against asio native with as many "
                             "threads\n\n" + native_targets(results))
                costs = cost_sentences(results)
                if costs:
                    parts.append("#### What a round trip costs, one thread against one\n\n"
                                 "Each server's CPU and system calls per round trip, 64-byte "
                                 "messages, medians, the least CPU first:\n\n"
                                 + "\n".join(f"- {line}" for line in costs))
            parts += group_tables(results, group)
    parts += [
        f"### HTTP: requests per second (wrk, {results.get('http_seconds', 2)} s a run, keep-alive)"
        "\n\n" + http_table(results, "rate"),
        "### HTTP: p99 latency (ms, as wrk reports it)\n\n" + http_table(results, "p99_us", 1e-3, 2),
        "### Where a model was not run\n\n" + not_run_text(results),
        "![Under Wine: round trips per second, p99 latency and memory per connection against "
        "connections; natively, on separate axes, the same for the native programs]"
        "(benchmarks.png)",
    ]
    return "\n\n".join(parts)


BLOCKS = {"summary": summary_block, "measured": measured_block, "reading": reading_block,
          "http": http_block, "results": results_block}
BLOCK = re.compile(r"(<!-- generated:(\w+):begin -->).*?(<!-- generated:\2:end -->)", re.S)


def render(page: str, results) -> str:
    """The page with every generated block rewritten from `results`."""
    found = [match.group(2) for match in BLOCK.finditer(page)]
    unknown = [name for name in found if name not in BLOCKS]
    if unknown:
        raise ValueError(f"the page has generated blocks this report does not make: {unknown}")
    return BLOCK.sub(lambda m: f"{m.group(1)}\n{BLOCKS[m.group(2)](results)}\n{m.group(3)}", page)


def generated_text(results) -> str:
    """Every block, in the page's order (what the tests read)."""
    return "\n\n".join(make(results) for make in BLOCKS.values())


# --- the plot --------------------------------------------------------------------------------

@dataclass
class Panel:
    group: str
    metric: str
    size: int
    title: str
    ylabel: str
    scale: float
    yscale: str
    series: list[str]  # the servers drawn on it, in the ladder's order


PANELS = {
    "windows": [("rate", 64), ("rate", 4096), ("p99_us", 64), ("memory_per_connection", 64)],
    "native": [("rate", 64), ("p99_us", 64)],
}
METRICS = {"rate": ("round trips per second", "round trips per second", 1.0, "log"),
           "p99_us": ("p99 latency", "p99 latency (ms)", 1e-3, "log"),
           # symlog: a model that adds nothing measurable per connection (select) shows 0.
           "memory_per_connection": ("memory per connection",
                                     "KiB per connection (linear below 1)", 1 / 1024, "symlog")}


def panels(results) -> list[Panel]:
    """What the plot draws: per group, the panels that have data, each with its series. A
    group without data gets no panel at all."""
    found = []
    for group in GROUPS:
        for metric, size in PANELS[group]:
            drawn = [name for name in names(results, group)
                     if any(median(results, name, size, n, metric) is not None
                            for n in CONNECTIONS)]
            if drawn:
                title, ylabel, scale, yscale = METRICS[metric]
                found.append(Panel(group, metric, size, f"{title}, {size}-byte messages", ylabel,
                                   scale, yscale, drawn))
    return found


def legend_entries(results, group: str) -> list[str]:
    """The legend of a group's panels: every server of the group, one entry each, saying so
    when it has nothing to draw (every run failed), so that no server silently disappears."""
    drawn = {name for panel in panels(results) if panel.group == group for name in panel.series}
    listed = names(results, group)
    return [name if name in drawn else f"{name} (no data)" for name in listed]


MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"]


def figure_of(results):
    """The plot as a matplotlib Figure: panels() decides what goes on it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    def label(value, _=None):
        return num(value, 0) if value >= 1 else f"{value:g}"

    chosen = panels(results)
    groups = [g for g in GROUPS if any(p.group == g for p in chosen)]
    rows = {g: (sum(1 for p in chosen if p.group == g) + 1) // 2 for g in groups}
    figure = plt.figure(figsize=(15, 4.3 * sum(rows.values()) + 0.6 * len(groups)),
                        layout="constrained")
    subfigures = figure.subfigures(len(groups), 1, height_ratios=[rows[g] for g in groups],
                                   squeeze=False)[:, 0]
    for subfigure, group in zip(subfigures, groups):
        listed = names(results, group)
        palette = plt.get_cmap("tab10" if len(listed) <= 10 else "tab20")
        style = {name: dict(color=palette(i % palette.N), marker=MARKERS[i % len(MARKERS)],
                            linestyle="--" if name.startswith("asio") else "-")
                 for i, name in enumerate(listed)}
        grid = subfigure.add_gridspec(rows[group], 3, width_ratios=[1, 1, 0.42])
        mine = [p for p in chosen if p.group == group]
        for index, panel in enumerate(mine):
            ax = subfigure.add_subplot(grid[index // 2, index % 2])
            highest = 0.0
            for order, name in enumerate(panel.series):
                # Nudged sideways, a little per series, so that no point hides another.
                nudge = 10 ** (0.03 * (order - (len(panel.series) - 1) / 2))
                xs, ys, low, high = [], [], [], []
                for n in CONNECTIONS:
                    point = echo_points(results).get((name, panel.size, n))
                    if point and panel.metric in point:
                        value = point[panel.metric]
                        xs.append(n * nudge)
                        ys.append(value["median"] * panel.scale)
                        low.append((value["median"] - value["min"]) * panel.scale)
                        high.append((value["max"] - value["median"]) * panel.scale)
                        highest = max(highest, value["max"] * panel.scale)
                ax.errorbar(xs, ys, yerr=[low, high], capsize=3, markersize=5, linewidth=1.4,
                            elinewidth=1, label=name, **style[name])
            ax.set_xscale("log")
            if panel.yscale == "symlog":
                ax.set_yscale("symlog", linthresh=1)
                top = max(highest, 1.0) * 1.6
                ax.set_ylim(-0.3, top)
                ax.yaxis.set_major_locator(FixedLocator(
                    [0] + [10 ** k for k in range(0, 7) if 10 ** k <= top]))
            else:
                ax.set_yscale(panel.yscale)
                # Labels at 1, 2 and 5 of every decade, written out: "20,000", not "2×10⁴".
                ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_major_formatter(FuncFormatter(label))
            ax.set_xticks(CONNECTIONS, [num(n) for n in CONNECTIONS])
            ax.set_xlabel("connections")
            ax.set_ylabel(panel.ylabel)
            ax.set_title(panel.title, fontsize=11)
            ax.grid(True, which="both", alpha=0.3)
        legend_ax = subfigure.add_subplot(grid[:, 2])
        legend_ax.axis("off")
        handles = [Line2D([], [], **style[name]) for name in listed]
        legend_ax.legend(handles, legend_entries(results, group), loc="center left",
                         fontsize=10, frameon=False,
                         title="median; bars: min–max\nof the runs", title_fontsize=9)
        heading = group_label(results, group)
        if group == "windows":
            heading += f" ({results['runtime']})"
        subfigure.suptitle(heading, fontsize=12, fontweight="bold")
    return figure


def plot(results, path: Path) -> None:
    import matplotlib.pyplot as plt
    figure = figure_of(results)
    figure.savefig(path, dpi=80)
    plt.close(figure)


# --- writing ---------------------------------------------------------------------------------

def write(results, notes: Path) -> None:
    (notes / "benchmarks.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, notes / "benchmarks.png")
    page = notes / "benchmarks.md"
    page.write_text(render(page.read_text(encoding="utf-8"), results), encoding="utf-8")
    print(f"report: {page}, {notes / 'benchmarks.png'}, {notes / 'benchmarks.json'}")


if __name__ == "__main__":
    write(json.loads(Path(sys.argv[1]).read_text()), Path(__file__).resolve().parent.parent / "notes")
