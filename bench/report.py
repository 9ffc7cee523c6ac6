"""Turns the ladder's results into the report: the generated part of notes/benchmarks.md (the
tables, between its `generated` markers), notes/benchmarks.json and notes/benchmarks.png.

    python3 bench/report.py build/bench/results.json     rewrite the report from saved results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"
CONNECTIONS = [1, 10, 100, 1000, 10000]


def echo_points(results):
    return {(p["server"], p["size"], p["connections"]): p for p in results["points"]
            if p["kind"] == "echo"}


def cell(point, metric, scale=1.0, digits=0, spread=True):
    if point is None:
        return ""
    if metric not in point:
        return "error" if point.get("errors") else "n/a"
    value = point[metric]
    text = f"{value['median'] * scale:,.{digits}f}"
    if spread and value["max"] != value["min"]:
        text += f" <sub>{value['min'] * scale:,.{digits}f}–{value['max'] * scale:,.{digits}f}</sub>"
    return text


def table(results, size, metric, scale=1.0, digits=0, spread=True):
    points = echo_points(results)
    lines = ["| server | " + " | ".join(f"{n:,}" for n in CONNECTIONS) + " |",
             "|---|" + "---:|" * len(CONNECTIONS)]
    for server in results["servers"]:
        row = [cell(points.get((server["name"], size, n)), metric, scale, digits, spread)
               if n in server["connections"] else "—" for n in CONNECTIONS]
        lines.append(f"| {server['name']} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def ratio(points, a, b, size, n):
    pa, pb = points.get((a, size, n)), points.get((b, size, n))
    if not pa or not pb or "rate" not in pa or "rate" not in pb:
        return None
    return pa["rate"]["median"] / pb["rate"]["median"]


def targets(results):
    points = echo_points(results)
    names = [s["name"] for s in results["servers"]]
    stage07 = "07 IOCP server"
    peers = [n for n in names if n.startswith("asio,")]
    if stage07 not in names or not peers:
        return "(stage 07 or the asio peer was not part of this run)"
    default_peer, matched_peer = peers[0], peers[-1]
    lines = ["| target | measured | |", "|---|---|---|"]
    for size in (64, 4096):
        for n, want in ((1, 1.0), (100, 2.0), (1000, 2.0)):
            got = ratio(points, stage07, default_peer, size, n)
            matched = ratio(points, stage07, matched_peer, size, n)
            if got is None:
                continue
            verdict = "met" if got >= want else "**not met**"
            lines.append(f"| 07 ≥ {want:g}× {default_peer} at {n:,} connection"
                         f"{'s' if n > 1 else ''}, {size} B | {got:.2f}× "
                         f"(against {matched_peer}: {matched:.2f}×) | {verdict} |")
    memory = points.get((stage07, 64, 10000))
    if memory and "memory_per_connection" in memory:
        kib = memory["memory_per_connection"]["median"] / 1024
        lines.append(f"| 07 holds 10,000 connections under 8 KiB each | {kib:.1f} KiB per connection "
                     f"| {'met' if kib < 8 else '**not met**'} |")
    return "\n".join(lines)


def setup_table(results):
    lines = ["| server | connections accepted and served per second |", "|---|---:|"]
    for point in results["points"]:
        if point["kind"] == "setup":
            lines.append(f"| {point['server']} | {cell(point, 'rate')} |")
    return "\n".join(lines)


def http_table(results, metric, scale=1.0, digits=0):
    points = {(p["server"], p["path"], p["connections"]): p for p in results["points"]
              if p["kind"] == "http"}
    counts = sorted({p["connections"] for p in results["points"] if p["kind"] == "http"})
    if not counts:
        return "(no HTTP points in this run)"
    lines = ["| server | path | " + " | ".join(f"{n:,}" for n in counts) + " |",
             "|---|---|" + "---:|" * len(counts)]
    for server in results.get("http_servers", []):
        for path in ("/about.txt", "/stats"):
            row = [cell(points.get((server, path, n)), metric, scale, digits) for n in counts]
            lines.append(f"| {server} | `{path}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def generated_text(results) -> str:
    s = results["settings"]
    why = "\n".join(f"- **{x['name']}**: {x['why_not']}." for x in results["servers"] if x["why_not"])
    parts = [
        f"Measured on {results['date']}: {results['machine']}; {results['runtime']}. "
        f"Each point ran {s['runs']} times, servers interleaved; a cell is the median, with the "
        f"smallest and largest run in small type. Warm-up {s['warmup_ms']} ms, then "
        f"{s['duration_ms']} ms measured (longer from 10,000 connections on: a tenth and three "
        f"tenths of a millisecond per connection, so that each connection completes several "
        f"round trips). The whole ladder took {results['minutes']} minutes; "
        f"`bench/run.sh` made this section, the plot and `benchmarks.json`.",
        "### Targets\n\n" + targets(results),
        "### Round trips per second, 64-byte messages\n\n" + table(results, 64, "rate"),
        "### Round trips per second, 4 KiB messages\n\n" + table(results, 4096, "rate"),
        "### p99 latency (ms), 64-byte messages\n\n" + table(results, 64, "p99_us", 1e-3, 2),
        "### p99 latency (ms), 4 KiB messages\n\n" + table(results, 4096, "p99_us", 1e-3, 2),
        "### p50 and p99.9 latency (ms), 64-byte messages\n\np50:\n\n"
        + table(results, 64, "p50_us", 1e-3, 2, False) + "\n\np99.9:\n\n"
        + table(results, 64, "p999_us", 1e-3, 2, False),
        "### Fairness (the slowest connection's round trips ÷ the mean), 64-byte messages\n\n"
        + table(results, 64, "fairness", 1, 2, False),
        "### Server memory per connection (KiB), 64-byte messages\n\n"
        + table(results, 64, "memory_per_connection", 1 / 1024, 1, False),
        "### Server CPU (cores busy), 64-byte messages\n\n"
        + table(results, 64, "server_cpu", 1, 2, False),
        "### wineserver CPU (cores busy) while serving, 64-byte messages\n\n"
        + table(results, 64, "wineserver_cpu", 1, 2, False),
        "### The load generator's own CPU (cores busy), 64-byte messages\n\n"
        + table(results, 64, "loadgen_cpu", 1, 2, False),
        "### Connection setup\n\n" + setup_table(results),
        f"### HTTP: requests per second (wrk, {results.get('http_seconds', 2)} s a run, keep-alive)"
        "\n\n" + http_table(results, "rate"),
        "### HTTP: p99 latency (ms, as wrk reports it)\n\n" + http_table(results, "p99_us", 1e-3, 2),
        "### Where a model was not run\n\n" + why,
        "![Round trips per second and p99 latency against connections]"
        "(benchmarks.png)",
    ]
    return "\n\n".join(parts)


def plot(results, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = echo_points(results)
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    for row, size in enumerate((64, 4096)):
        for column, (metric, label, scale) in enumerate(
                (("rate", "round trips per second", 1.0), ("p99_us", "p99 latency (ms)", 1e-3))):
            ax = axes[row][column]
            for server in results["servers"]:
                xs, ys = [], []
                for n in CONNECTIONS:
                    point = points.get((server["name"], size, n))
                    if point and metric in point:
                        xs.append(n)
                        ys.append(point[metric]["median"] * scale)
                if xs:
                    style = "--" if server["name"].startswith("asio") else "-"
                    ax.plot(xs, ys, style, marker="o", label=server["name"])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("connections")
            ax.set_ylabel(label)
            ax.set_title(f"{label}, {size}-byte messages")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(f"Echo round trips, closed loop — {results['runtime']}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write(results, notes: Path) -> None:
    (notes / "benchmarks.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, notes / "benchmarks.png")
    page = notes / "benchmarks.md"
    text = page.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    page.write_text(text[:start] + "\n" + generated_text(results) + "\n" + text[end:],
                    encoding="utf-8")
    print(f"report: {page}, {notes / 'benchmarks.png'}, {notes / 'benchmarks.json'}")


if __name__ == "__main__":
    write(json.loads(Path(sys.argv[1]).read_text()), Path(__file__).resolve().parent.parent / "notes")
