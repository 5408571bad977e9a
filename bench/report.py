"""The benchmark's results: measurements, the goal rows built from them, and the table.

A :class:`Measurement` holds the samples of one figure (one per repetition after
the warm-up). A :class:`Row` compares a project figure with its baseline from the
same run, and :class:`Report` prints every row as one table and writes it as JSON.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Comparison = Literal["at_least", "at_most", "equal"]
Verdict = Literal["pass", "miss", "info", "not measured"]


@dataclass(frozen=True)
class Measurement:
    """The samples of one figure, in ``unit``, one per repetition."""

    name: str
    unit: str
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def describe(self) -> str:
        return f"{format_number(self.median)} {self.unit}"


@dataclass(frozen=True)
class Target:
    """A goal's threshold: the figure (or ratio) must be at least, at most, or equal to it."""

    comparison: Comparison
    value: float

    def met_by(self, figure: float) -> bool:
        if self.comparison == "at_least":
            return figure >= self.value
        if self.comparison == "at_most":
            return figure <= self.value
        return figure == self.value

    def describe(self, unit: str = "") -> str:
        if self.comparison == "equal":
            return "identical"
        sign = ">=" if self.comparison == "at_least" else "<="
        return f"{sign} {format_number(self.value)}{(' ' + unit) if unit else ''}"


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its baseline, their ratio and the verdict."""

    goal: str
    what: str
    figure: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    verdict: Verdict = "info"
    note: str = ""


def ratio_row(
    goal: str,
    what: str,
    project: Measurement,
    baseline: Measurement,
    target: Target | None,
) -> Row:
    """Divide the project's median by the baseline's median and judge the ratio."""
    ratio = project.median / baseline.median if baseline.median else float("nan")
    verdict: Verdict = "info" if target is None else ("pass" if target.met_by(ratio) else "miss")
    return Row(
        goal=goal,
        what=what,
        figure=project.describe(),
        baseline=f"{baseline.name} {baseline.describe()}",
        ratio=ratio,
        target=target.describe() if target else "",
        verdict=verdict,
    )


def absolute_row(goal: str, what: str, figure: Measurement, target: Target | None) -> Row:
    """Judge a figure that has no baseline (a latency bound, a memory bound)."""
    verdict: Verdict = (
        "info" if target is None else ("pass" if target.met_by(figure.median) else "miss")
    )
    return Row(
        goal=goal,
        what=what,
        figure=figure.describe(),
        target=target.describe(figure.unit) if target else "",
        verdict=verdict,
    )


def missing_row(goal: str, what: str, target: str, reason: str) -> Row:
    return Row(goal=goal, what=what, figure="-", target=target, verdict="not measured",
               note=reason)


def format_number(value: float) -> str:
    if value != value:  # NaN
        return "nan"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Machine:
    """Where the run happened, as the table's header line shows it."""

    cores: int
    python: str
    kafka: str
    platform: str

    def describe(self) -> str:
        return f"{self.cores} cores, Python {self.python}, Kafka {self.kafka}, {self.platform}"


def this_machine(kafka_version: str) -> Machine:
    return Machine(
        cores=os.cpu_count() or 0,
        python=platform.python_version(),
        kafka=kafka_version,
        platform=f"{platform.system()} {platform.machine()}",
    )


@dataclass
class Report:
    """Everything one run measured, in the order the table prints it."""

    machine: Machine
    command: str
    events: int
    repetitions: int
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    rows: list[Row] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    def keep(self, *measurements: Measurement) -> None:
        self.measurements.extend(measurements)

    def table(self) -> str:
        """Return the table as Markdown, with the machine and the repetitions above it."""
        header = ("goal", "what", "figure", "baseline", "ratio", "target", "result")
        lines = [
            f"Machine: {self.machine.describe()}",
            f"Run: `{self.command}` at {self.started_at}; {self.events:,} events; "
            f"median of {self.repetitions} repetitions after one warm-up",
            "",
            _markdown_line(header),
            _markdown_line(tuple("---" for _ in header)),
        ]
        for row in self.rows:
            ratio = "" if row.ratio is None else format_number(row.ratio)
            result = row.verdict if not row.note else f"{row.verdict} ({row.note})"
            lines.append(_markdown_line(
                (row.goal, row.what, row.figure, row.baseline, ratio, row.target, result)
            ))
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": asdict(self.machine),
            "command": self.command,
            "started_at": self.started_at,
            "events": self.events,
            "repetitions": self.repetitions,
            "rows": [asdict(row) for row in self.rows],
            "measurements": [
                {**asdict(item), "median": item.median} for item in self.measurements
            ],
            "notes": list(self.notes),
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=True) + "\n")


def _markdown_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
