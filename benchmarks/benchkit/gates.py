"""Performance gates: ratios of cases measured in the same run, checked against `gates.toml`.

A *case* is one measured way of doing a job (`nps.ours`, `nps.pandas`, `pg.adbc`, ...). For each
case the suite records the pytest-benchmark timing (median, min, max seconds), the number of rows
it processed, optionally its peak memory, and optionally plain facts (counts). A *gate* is a
bound on one number derived from those records:

- `metric = "time"`: (median seconds per row of numerator) / (median seconds per row of
  denominator). Per row, so a slow peer measured on fewer rows compares fairly; `per_row =
  false` compares whole medians (a pruned read against a full scan does less work by design).
- `metric = "memory"`: peak RSS increase of numerator / peak RSS increase of denominator.
- `metric = "fact"`: the value of one recorded fact (no denominator).

A gate holds `max` and/or `min`; `quick` / `full` sub-tables override them per benchmark mode.
A quick-mode bound may be at most `QUICK_SLACK` (1.5) times looser than the full-mode target
(`max` up to 1.5x, `min` down to 1/1.5): CI runs quick mode, and a guard much looser than the
target would let a real regression through (quick sizes are chosen so that fixed costs do not
dominate the ratio). The parser refuses a gates file that breaks this.

A peer gate may name the raw driver's case as its `floor` (the least any loader on that path can
do). When the floor's own ratio to the same denominator misses `max`, or comes within
`floor_slack` of it, the target is out of reach (or at the edge) of every implementation on this
machine, so the gate holds ours to the floor instead (ours / peer at most `floor_slack` x
floor / peer, default 1.2) and reports status `floor`: not a failure, and not a plain pass
either; the table shows both ratios. A floor that meets the target with the slack to spare
(`floor_slack` x floor / peer <= `max`) leaves the target in force.
A peer case may be skipped only when the peer cannot run here at all: its import, or a library
it needs, is missing (`peer_call` raises `PeerUnavailable`, whose reason carries the
`PEER_UNAVAILABLE` marker). Its gates are then reported as skipped with that reason, never as
passed. Any other error of a peer (a harness `TypeError`, a peer crash) is never a skip:
`peer_call` raises `PeerError`, which the bench modules do not catch, so the benchmark errors
and its gates fail; and a skip recorded with any other reason fails its gates too. A gate with
one side measured and the other simply missing (that benchmark crashed) fails, so a broken case
can never make the run green by silence; a gate with neither side measured (its bench module
deselected, e.g. with `-k`) is reported as `n/a`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

METRICS = ("time", "memory", "fact")
# The only skip a gate accepts: the peer cannot run here (see `peer_call`).
PEER_UNAVAILABLE = "peer unavailable"
QUICK_SLACK = 1.5  # the loosest a quick-mode bound may be against the full-mode target
T = TypeVar("T")


class PeerUnavailable(ValueError):
    """The peer's import, or a library (API) it needs, is missing here: its case is a skip.

    A `ValueError`, so the bench modules' peer handlers (`except PEER_ERRORS`) record the skip."""


class PeerError(RuntimeError):
    """Any other error of a peer call: a harness bug or a peer crash, never a skip.

    A `RuntimeError` on purpose: the bench modules' peer handlers do not catch it, so the
    benchmark errors, the case stays unmeasured and its gates fail."""


def _raised_inside(error: BaseException, package: str) -> bool:
    """Whether the error passed through code of `package` (the peer library itself)."""
    tb: TracebackType | None = error.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module == package or module.startswith(f"{package}."):
            return True
        tb = tb.tb_next
    return False


def _missing_import(error: ImportError, package: str) -> bool:
    """The peer package itself is not installed, or its own import of a library failed."""
    name = (error.name or "").split(".")[0] if isinstance(error, ModuleNotFoundError) else ""
    return name == package or _raised_inside(error, package)


def _missing_api(error: BaseException, package: str) -> bool:
    """The peer library calls an API that the installed polars has removed."""
    from polars.exceptions import ArgumentRemovedError

    return isinstance(error, ArgumentRemovedError) and _raised_inside(error, package)


def peer_call(package: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a peer (the library importable as `package`) and classify its failure.

    A missing import of the peer or of a library it imports, or an API of the installed libraries
    that the peer still calls, raises `PeerUnavailable` (a skip). Every other exception raises
    `PeerError` (the gate fails), whatever its type: a `TypeError` from our harness is a bug."""
    try:
        return call(*args, **kwargs)
    except ImportError as error:
        if not _missing_import(error, package):
            raise PeerError(f"{package}: {type(error).__name__}: {error}") from error
        raise PeerUnavailable(
            f"{PEER_UNAVAILABLE}: {package} or a library it imports is missing "
            f"({type(error).__name__}: {error})"
        ) from error
    except Exception as error:
        if _missing_api(error, package):
            raise PeerUnavailable(
                f"{PEER_UNAVAILABLE}: {package} calls an API the installed libraries removed "
                f"({type(error).__name__}: {error})"
            ) from error
        raise PeerError(
            f"{package} failed (a harness or peer error, not a skip): "
            f"{type(error).__name__}: {error}"
        ) from error


class GateFileError(ValueError):
    """`gates.toml` is malformed; the message names the gate and the problem."""


@dataclass(frozen=True)
class Gate:
    """One bound on a ratio (or fact) for one benchmark mode."""

    name: str
    metric: str
    numerator: str
    denominator: str | None
    max: float | None
    min: float | None
    reason: str
    per_row: bool = True
    floor: str | None = None
    floor_slack: float = 1.2

    def describe(self) -> str:
        what = self.numerator if self.denominator is None else (
            f"{self.numerator} / {self.denominator}"
        )
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        return f"{what} ({self.metric}) " + " and ".join(bounds)


@dataclass
class CaseRecord:
    """What the suite measured for one case."""

    case: str
    rows: int = 0
    median: float | None = None  # seconds
    min: float | None = None
    max: float | None = None
    rounds: int = 0
    peak_rss: int | None = None  # bytes above the post-setup baseline, in a fresh process
    peak_rss_total: int | None = None  # bytes, whole process high-water mark
    skip: str | None = None  # why the case could not run (a finding, not a pass)
    note: str = ""


@dataclass
class Results:
    """All records of one run, keyed by case, plus named facts."""

    cases: dict[str, CaseRecord] = field(default_factory=dict)
    facts: dict[str, float] = field(default_factory=dict)

    def case(self, name: str) -> CaseRecord:
        return self.cases.setdefault(name, CaseRecord(case=name))

    def timing(
        self, name: str, *, rows: int, median: float, min: float, max: float, rounds: int
    ) -> CaseRecord:
        record = self.case(name)
        record.rows, record.median, record.min, record.max = rows, median, min, max
        record.rounds = rounds
        return record

    def skipped(self, name: str, reason: str) -> None:
        self.case(name).skip = reason

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": {k: vars(v) for k, v in sorted(self.cases.items())},
            "facts": dict(sorted(self.facts.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        results = cls()
        for name, values in data.get("cases", {}).items():
            results.cases[name] = CaseRecord(**values)
        results.facts = {k: float(v) for k, v in data.get("facts", {}).items()}
        return results


@dataclass(frozen=True)
class Outcome:
    """A gate checked against one run's results."""

    gate: Gate
    status: str  # "pass", "FAIL", "skip", "n/a"
    value: float | None
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    @property
    def headroom(self) -> float | None:
        """How many times slower (or bigger) ours could get before this gate fails: bound / value
        for `max`, value / bound for `min`. Below 1.2, a 20% regression of ours fails the gate."""
        if self.value is None or self.value <= 0 or self.gate.metric == "fact":
            return None
        if self.gate.max is not None:
            return self.gate.max / self.value
        if self.gate.min is not None and self.gate.min > 0:
            return self.value / self.gate.min
        return None


def _bound(raw: Any, gate: str, key: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise GateFileError(f"gate {gate}: {key} must be a number, got {raw!r}")
    return float(raw)


def parse_gates(data: Mapping[str, Any], mode: str) -> list[Gate]:
    """Gates of `mode` ("quick" or "full") from the parsed TOML document."""
    table = data.get("gates")
    if not isinstance(table, Mapping) or not table:
        raise GateFileError("gates file: no [gates.<name>] tables")
    gates = []
    for name, spec in table.items():
        if not isinstance(spec, Mapping):
            raise GateFileError(f"gate {name}: must be a table")
        metric = spec.get("metric", "time")
        if metric not in METRICS:
            raise GateFileError(f"gate {name}: metric {metric!r} is not one of {METRICS}")
        numerator = spec.get("numerator")
        denominator = spec.get("denominator")
        if not isinstance(numerator, str) or not numerator:
            raise GateFileError(f"gate {name}: numerator (a case or fact name) is required")
        if metric == "fact" and denominator is not None:
            raise GateFileError(f"gate {name}: a fact gate has no denominator")
        if metric != "fact" and not isinstance(denominator, str):
            raise GateFileError(f"gate {name}: a {metric} gate needs a denominator case")
        reason = spec.get("reason")
        override = spec.get(mode, {})
        if not isinstance(override, Mapping):
            raise GateFileError(f"gate {name}: [{mode}] must be a table")
        upper = _bound(override.get("max", spec.get("max")), name, "max")
        lower = _bound(override.get("min", spec.get("min")), name, "min")
        if upper is None and lower is None:
            raise GateFileError(f"gate {name}: needs max and/or min")
        if not isinstance(reason, str) or not reason.strip():
            raise GateFileError(f"gate {name}: every threshold needs a reason")
        if mode in spec and "reason" not in override:
            raise GateFileError(f"gate {name}: the [{mode}] override needs its own reason")
        if mode == "quick":
            _check_quick_slack(name, spec, upper, lower)
        floor = spec.get("floor")
        if floor is not None and (metric != "time" or upper is None or not isinstance(floor, str)):
            raise GateFileError(f"gate {name}: floor (a case name) needs a time gate with max")
        slack = _bound(spec.get("floor_slack", 1.2), name, "floor_slack")
        gates.append(
            Gate(
                name=name,
                metric=metric,
                numerator=numerator,
                denominator=denominator,
                max=upper,
                min=lower,
                reason=str(override.get("reason", reason)).strip(),
                per_row=bool(spec.get("per_row", True)),
                floor=floor,
                floor_slack=slack if slack is not None else 1.2,
            )
        )
    return gates


def _check_quick_slack(
    name: str, spec: Mapping[str, Any], upper: float | None, lower: float | None
) -> None:
    """Refuse a quick bound more than `QUICK_SLACK` times looser than the full-mode target."""
    full = spec.get("full", {})
    target_max = _bound(full.get("max", spec.get("max")), name, "max")
    target_min = _bound(full.get("min", spec.get("min")), name, "min")
    if upper is not None and target_max is not None and upper > target_max * QUICK_SLACK + 1e-12:
        raise GateFileError(
            f"gate {name}: quick max {upper:g} is looser than {QUICK_SLACK:g}x the full-mode "
            f"target {target_max:g}"
        )
    if lower is not None and target_min is not None and lower < target_min / QUICK_SLACK - 1e-12:
        raise GateFileError(
            f"gate {name}: quick min {lower:g} is looser than the full-mode target "
            f"{target_min:g} / {QUICK_SLACK:g}"
        )


def load_gates(path: Path, mode: str) -> list[Gate]:
    """Gates of `mode` from a TOML file."""
    with path.open("rb") as handle:
        return parse_gates(tomllib.load(handle), mode)


def _seconds(record: CaseRecord, per_row: bool) -> float | None:
    if record.median is None:
        return None
    if not per_row:
        return record.median
    if record.rows <= 0:
        return None
    return record.median / record.rows


def _skip_detail(case: str, reason: str) -> str:
    """A recorded skip: `skip: ...` only for an unavailable peer, otherwise a failure detail."""
    if PEER_UNAVAILABLE in reason:
        return f"skip: {case}: {reason}"
    return f"{case} was skipped, but only a missing import or library may skip a peer: {reason}"


def _quantity(results: Results, gate: Gate, case: str) -> tuple[float | None, str]:
    """The gated quantity of one side, or (None, why it is missing)."""
    if gate.metric == "fact":
        if case in results.facts:
            return results.facts[case], ""
        record = results.cases.get(case)
        if record is not None and record.skip:
            return None, _skip_detail(case, record.skip)
        return None, f"fact {case} was not recorded"
    record = results.cases.get(case)
    if record is None:
        return None, f"case {case} was not measured"
    if record.skip:
        return None, _skip_detail(case, record.skip)
    value = _seconds(record, gate.per_row) if gate.metric == "time" else record.peak_rss
    if value is None:
        return None, f"case {case} has no {gate.metric} measurement"
    return float(value), ""


def _known(results: Results, name: str) -> bool:
    return name in results.cases or name in results.facts


def evaluate(gates: Iterable[Gate], results: Results) -> list[Outcome]:
    """Check every gate: pass, FAIL (breach or missing measurement), skip (recorded reason) or
    n/a (nothing of it was run)."""
    outcomes = []
    for gate in gates:
        sides = [gate.numerator] + ([gate.denominator] if gate.denominator else [])
        if not any(_known(results, side) for side in sides):
            outcomes.append(Outcome(gate, "n/a", None, "not run in this session"))
            continue
        top, why = _quantity(results, gate, gate.numerator)
        value: float | None = top
        if top is not None and gate.denominator is not None:
            bottom, why = _quantity(results, gate, gate.denominator)
            if bottom is None:
                value = None
            elif bottom <= 0:
                value, why = None, f"case {gate.denominator} measured {bottom} (not positive)"
            else:
                value = top / bottom
        if value is None:
            status = "skip" if why.startswith("skip:") else "FAIL"
            outcomes.append(Outcome(gate, status, None, why))
            continue
        breached = []
        if gate.max is not None and not value <= gate.max:
            breached.append(f"> max {gate.max:g}")
        if gate.min is not None and not value >= gate.min:
            breached.append(f"< min {gate.min:g}")
        if math.isnan(value):
            breached.append("is NaN")
        status = "FAIL" if breached else "pass"
        detail = "; ".join(breached)
        if breached and gate.floor and gate.denominator and not math.isnan(value):
            status, detail = _floor_bound(results, gate, value, detail)
        outcomes.append(Outcome(gate, status, value, detail))
    return outcomes


def _floor_bound(results: Results, gate: Gate, value: float, breach: str) -> tuple[str, str]:
    """A target breach judged against the floor (see the module doc): `floor` or `FAIL`."""
    assert gate.floor is not None and gate.denominator is not None and gate.max is not None
    floor, why = _quantity(results, gate, gate.floor)
    bottom, _ = _quantity(results, gate, gate.denominator)
    if floor is None or bottom is None:
        return "FAIL", f"{breach}; floor unavailable ({why})"
    floor_ratio = floor / bottom
    limit = floor_ratio * gate.floor_slack
    if limit <= gate.max:
        return "FAIL", f"{breach}; the floor {gate.floor} meets it ({floor_ratio:.3g})"
    if value <= limit:
        where = "missed by" if floor_ratio > gate.max else "within the slack of"
        return "floor", (f"target {gate.max:g} {where} the floor itself ({gate.floor}: "
                         f"{floor_ratio:.3g}); ours <= {gate.floor_slack:g}x floor ({limit:.3g})")
    return "FAIL", f"{breach}; also > {gate.floor_slack:g}x the floor's {floor_ratio:.3g}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}"


def table(outcomes: Iterable[Outcome]) -> str:
    """A plain-text table of the gate outcomes (printed at the end of the run)."""
    rows = [("status", "gate", "ratio", "bound", "headroom", "detail")]
    for o in outcomes:
        bound = " ".join(
            part
            for part in (
                f">={o.gate.min:g}" if o.gate.min is not None else "",
                f"<={o.gate.max:g}" if o.gate.max is not None else "",
            )
            if part
        )
        headroom = "-" if o.headroom is None else f"{o.headroom:.2f}x"
        rows.append((o.status, o.gate.name, _fmt(o.value), bound, headroom, o.detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for r in rows:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5])
    return "\n".join(lines)
