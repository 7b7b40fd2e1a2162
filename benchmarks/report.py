"""Write the latest benchmark results into docs/benchmarks.md and docs/benchmarks_ratios.png.

Usage (after a run; reads `.benchmarks/gates-<mode>.json` written by benchmarks/conftest.py):

    .venv/bin/python benchmarks/report.py --mode full

Replaces the part of docs/benchmarks.md between the GENERATED markers (prose around them is
kept) with: the machine, the command, the per-case table (median, min, max, rows, peak memory)
and the ratio table (gates re-evaluated against the current gates.toml, plus informational
ratios); and draws the gate ratios against their thresholds. A full-mode report also appends the
run's ratios to docs/benchmarks_history.json and draws each gate's trend over the recorded runs
(docs/benchmarks_trend.png).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from datetime import date
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from benchkit import gates, trend  # noqa: E402  (needs the sys.path entry above)

BEGIN = "<!-- BEGIN GENERATED (benchmarks/report.py) -->"
END = "<!-- END GENERATED -->"
COMMANDS = {
    "full": "BENCH_MODE=full .venv/bin/pytest benchmarks --benchmark-only",
    "quick": ".venv/bin/pytest benchmarks --benchmark-only",
}
# Ratios worth showing that are not gated: (label, numerator, denominator, per_row).
INFO_RATIOS = (
    ("NPS ours / floor (parse only)", "nps.ours", "nps.floor", True),
    ("NPS ours / DuckDB SQL", "nps.ours", "nps.duckdb", True),
    ("NPS DuckDB / pandas", "nps.duckdb", "nps.pandas", True),
    ("NPS peak memory ours / DuckDB", "nps.ours", "nps.duckdb", None),
    ("Delta read ours / floor (scan_delta)", "io.delta.read.ours", "io.delta.read.floor", True),
    ("Delta read ours / dagster-polars", "io.delta.read.ours", "io.delta.read.peer", True),
    ("Parquet read ours / floor (scan_parquet)", "io.parquet.read.ours", "io.parquet.read.floor",
     True),
    ("Delta write peak memory ours / floor", "io.delta.write.ours", "io.delta.write.floor", None),
    ("Parquet write peak memory ours / floor", "io.parquet.write.ours", "io.parquet.write.floor",
     None),
    ("PG floor (adbc_ingest) / executemany", "pg.adbc", "pg.executemany", True),
    ("PG floor (adbc_ingest) / COPY write_row", "pg.adbc", "pg.copy_rows", True),
    ("PG floor (adbc_ingest) / CSV-buffer COPY", "pg.adbc", "pg.copy_csv", True),
    ("SQLite floor (adbc_ingest) / pyturso executemany", "turso.adbc", "turso.executemany", True),
    ("Delta 30-partition range, one run / 30 runs", "io.delta.range.one_run",
     "io.delta.range.single_runs", True),
)


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()


def machine() -> dict[str, str]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    mem_kb = int(found.group(1)) if found else 0
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("polars", "pandas", "duckdb", "deltalake", "pyarrow", "dagster",
                     "dagster-polars", "adbc-driver-postgresql", "adbc-driver-sqlite",
                     "psycopg", "pyturso", "pytest-benchmark")
    )
    return {
        "nproc": _run(["nproc"]) or str(os.cpu_count()),
        "cpu": cpu or platform.processor(),
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.1f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def case_table(results: gates.Results) -> str:
    lines = [
        "| case | rows | rounds | median ms | min ms | max ms | µs/row (median) "
        "| peak RSS +MiB | peak RSS total MiB | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, c in sorted(results.cases.items()):
        if c.skip:
            lines.append(f"| {name} | - | - | - | - | - | - | - | - | not run: {c.skip} |")
            continue
        per_row = "-" if c.median is None or not c.rows else f"{c.median / c.rows * 1e6:,.2f}"
        lines.append(
            f"| {name} | {c.rows:,} | {c.rounds} | {_ms(c.median)} | {_ms(c.min)} | {_ms(c.max)} "
            f"| {per_row} | {_mib(c.peak_rss)} | {_mib(c.peak_rss_total)} | {c.note.strip()} |"
        )
    return "\n".join(lines)


def _info_ratio(results: gates.Results, num: str, den: str, per_row: bool | None) -> str:
    a, b = results.cases.get(num), results.cases.get(den)
    if a is None or b is None or a.skip or b.skip:
        why = (a.skip if a and a.skip else "") or (b.skip if b and b.skip else "") or "not run"
        return f"- ({why[:80]})"
    if per_row is None:
        if not a.peak_rss or not b.peak_rss:
            return "- (memory not measured)"
        return f"{a.peak_rss / b.peak_rss:.3g}"
    if a.median is None or b.median is None:
        return "-"
    x = a.median / (a.rows if per_row else 1)
    y = b.median / (b.rows if per_row else 1)
    return f"{x / y:.3g}"


def ratio_table(outcomes: list[gates.Outcome], results: gates.Results) -> str:
    lines = [
        "| gate | ratio | bound | headroom | status | reason / detail |",
        "| --- | ---: | --- | ---: | --- | --- |",
    ]
    for o in outcomes:
        g = o.gate
        bound = " ".join(
            p for p in (f">= {g.min:g}" if g.min is not None else "",
                        f"<= {g.max:g}" if g.max is not None else "") if p
        )
        what = g.numerator if g.denominator is None else f"{g.numerator} / {g.denominator}"
        value = "-" if o.value is None else f"{o.value:.3g}"
        headroom = "-" if o.headroom is None else f"{o.headroom:.2f}x"
        detail = f"{g.reason} {('**' + o.detail + '**') if o.detail else ''}".strip()
        lines.append(
            f"| `{g.name}`<br>{what} ({g.metric}) | {value} | {bound} | {headroom} | {o.status} "
            f"| {detail} |"
        )
    lines += ["", "Informational ratios (not gated):", "",
              "| ratio | value |", "| --- | ---: |"]
    for label, num, den, per_row in INFO_RATIOS:
        lines.append(f"| {label} | {_info_ratio(results, num, den, per_row)} |")
    return "\n".join(lines)


def plot(outcomes: list[gates.Outcome], path: Path, mode: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [o for o in outcomes if o.gate.metric != "fact"]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(shown) + 1.6))
    for i, o in enumerate(shown):
        y = len(shown) - 1 - i
        if o.value is None:
            ax.text(0.011, y, f"{o.status}: {o.detail[:70]}", va="center", fontsize=7,
                    color="dimgray")
            continue
        color = {"pass": "tab:green", "FAIL": "tab:red", "floor": "tab:orange"}.get(
            o.status, "tab:gray")
        ax.barh(y, o.value, color=color, alpha=0.8, height=0.6)
        right = max([o.value] + [b for b in (o.gate.max, o.gate.min) if b is not None])
        ax.text(right * 1.08, y, f"{o.value:.3g}", va="center", fontsize=7)
        for bound in (o.gate.max, o.gate.min):
            if bound is not None and bound > 0:
                ax.plot([bound, bound], [y - 0.38, y + 0.38], color="black", linewidth=2)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([f"{o.gate.name} ({o.gate.metric})" for o in reversed(shown)], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(0.01, max([10.0] + [o.value * 3 for o in shown if o.value]))
    ax.axvline(1.0, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("ratio ours / reference (log scale); black tick = gate threshold; green = pass,"
                  " red = breach, orange = floor-bound (target beyond the raw driver)", fontsize=8)
    facts = [o for o in outcomes if o.gate.metric == "fact"]
    fact_text = "; ".join(f"{o.gate.name} = {o.value if o.value is not None else '-'} "
                          f"({o.status})" for o in facts)
    ax.set_title(f"Benchmark ratios vs gates ({mode} mode)\n{fact_text}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="full", choices=["quick", "full"])
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "benchmarks_ratios.png")
    parser.add_argument("--history", type=Path,
                        default=ROOT / "docs" / "benchmarks_history.json")
    parser.add_argument("--trend", type=Path, default=ROOT / "docs" / "benchmarks_trend.png")
    parser.add_argument("--note", default="", help="free text about the run (load, noise)")
    args = parser.parse_args()
    source = args.results or ROOT / ".benchmarks" / f"gates-{args.mode}.json"
    data = json.loads(source.read_text())
    results = gates.Results.from_json(data)
    outcomes = gates.evaluate(gates.load_gates(BENCH_DIR / "gates.toml", args.mode), results)
    facts = machine()
    fact_lines = "\n".join(f"| {k} | {v} |" for k, v in sorted(results.facts.items()))
    generated = "\n".join(
        [
            BEGIN,
            f"### Latest {args.mode}-mode run",
            "",
            f"Command: `{COMMANDS[args.mode]}` (then `.venv/bin/python benchmarks/report.py "
            f"--mode {args.mode}`).",
            "",
            f"Machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['ram']} RAM, "
            f"{facts['os']}, Python {facts['python']}.",
            f"Libraries: {facts['versions']}.",
            *([f"Run notes: {args.note}"] if args.note else []),
            "",
            "#### Ratios and gates",
            "",
            "![ratios vs gates](benchmarks_ratios.png)",
            "",
            *(["Trend of each gated ratio over the recorded full-mode runs "
               f"({args.history.name}):", "", f"![trend]({args.trend.name})", ""]
              if args.mode == "full" else []),
            ratio_table(outcomes, results),
            "",
            "#### Cases",
            "",
            case_table(results),
            "",
            "#### Facts",
            "",
            "| fact | value |",
            "| --- | ---: |",
            fact_lines,
            END,
        ]
    )
    doc = args.doc.read_text() if args.doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        doc = doc.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    args.doc.write_text(head + generated + tail)
    plot(outcomes, args.png, args.mode)
    print(f"wrote {args.doc} and {args.png}")
    if args.mode == "full":
        commit = _run(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
        run = trend.entry(date.today().isoformat(), commit, outcomes)
        history = trend.append(args.history, run)
        trend.plot(history, [o.gate for o in outcomes], args.trend)
        print(f"wrote {args.history} ({len(history)} runs) and {args.trend}")


if __name__ == "__main__":
    main()
