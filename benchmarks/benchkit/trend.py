"""The trend of every gated ratio over the recorded full-mode runs.

`docs/benchmarks_history.json` holds one entry per full-mode report (`benchmarks/report.py --mode
full` appends it): date, commit and each gate's measured value. The runs before the history file
existed were read back from the ratio tables of docs/benchmarks.md in git (`from_ratio_table`),
so the plot starts with the project's first full run. A regression shows as a line climbing
toward (or over) its gate's bound.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from benchkit import gates

# A row of the generated ratio table: | `gate`<br>what (metric) | value | bound | status | ...
_ROW = re.compile(r"^\| `(?P<gate>[a-z0-9_]+)`<br>[^|]*\| (?P<value>[-0-9.e+]+) \|", re.MULTILINE)


def from_ratio_table(markdown: str) -> dict[str, float]:
    """Each gate's value from a generated docs/benchmarks.md ratio table ("-" = not measured)."""
    return {m["gate"]: float(m["value"]) for m in _ROW.finditer(markdown)}


def load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def append(path: Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Add (or replace, for the same commit) one run's entry; the file stays in date order."""
    history = [h for h in load(path) if h["commit"] != entry["commit"]] + [entry]
    path.write_text(json.dumps(history, indent=1, sort_keys=True) + "\n")
    return history


def entry(date: str, commit: str, outcomes: list[gates.Outcome]) -> dict[str, Any]:
    values = {o.gate.name: o.value for o in outcomes if o.value is not None}
    return {"date": date, "commit": commit, "ratios": values}


def plot(history: list[dict[str, Any]], current: list[gates.Gate], path: Path) -> None:
    """Small multiples: one panel per gate, its value per recorded run and its bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [g for g in current if any(g.name in h["ratios"] for h in history)]
    cols = 4
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.1 * rows), squeeze=False)
    labels = [f"{h['date'][5:]}\n{h['commit'][:7]}" for h in history]
    for ax, gate in zip(axes.flat, shown, strict=False):
        points = [(i, h["ratios"][gate.name]) for i, h in enumerate(history)
                  if gate.name in h["ratios"]]
        xs, ys = zip(*points, strict=True)
        breached = [
            (x, y) for x, y in points
            if (gate.max is not None and y > gate.max) or (gate.min is not None and y < gate.min)
        ]
        ax.plot(xs, ys, marker="o", markersize=3, color="tab:blue", linewidth=1)
        if breached:
            ax.scatter(*zip(*breached, strict=True), color="tab:red", zorder=3, s=14)
        for bound in (gate.max, gate.min):
            if bound is not None:
                ax.axhline(bound, color="black", linewidth=1, linestyle="--")
        ax.set_title(gate.name, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xticks(range(len(history)), labels if len(history) <= 8 else
                      [label if i % 3 == 0 else "" for i, label in enumerate(labels)])
        ax.set_xlim(-0.5, len(history) - 0.5)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle("Gated ratios over the recorded full-mode runs (dashed: the gate's bound; "
                 "red: breached)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.1 * rows)))  # room for the title
    fig.savefig(path, dpi=90)
    plt.close(fig)
