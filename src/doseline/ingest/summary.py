"""The summary of an ingest: what was imported, what was a duplicate, what was rejected and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IngestSummary", "Rejection"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A file or row that was not imported, with the reason (naming file, record and field)."""

    source: str
    category: str
    reason: str


@dataclass
class IngestSummary:
    """Counts by outcome (imported, updated, merged, duplicate, superseded), rejections and
    warnings of one ingest run.

    ``outcomes`` holds the totals under the outcome's name and, under ``"outcome:kind"``, the
    same counts by kind of record ("dose reports", and the forms of the tables).
    """

    outcomes: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: int = 0
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.outcomes["imported"]

    @property
    def duplicates(self) -> int:
        return self.outcomes["duplicate"] + self.outcomes["superseded"]

    @property
    def rejected(self) -> int:
        """Number of files rejected (a table file may be rejected for several problems)."""
        return len({r.source for r in self.rejections})

    def count(self, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] += n

    def absorb(self, other: IngestSummary) -> None:
        """Add the counts, rejections and warnings of another run to this one."""
        self.outcomes.update(other.outcomes)
        self.rejections.extend(other.rejections)
        self.warnings.extend(other.warnings)
        self.files += other.files
        self.bytes_read += other.bytes_read
        self.seconds += other.seconds

    def reject(self, source: str, category: str, reason: str) -> None:
        self.rejections.append(Rejection(source, category, reason))

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "outcomes": dict(sorted(self.outcomes.items())),
            "rejected": self.rejected,
            "rejections": [
                {"source": r.source, "category": r.category, "reason": r.reason}
                for r in self.rejections
            ],
            "warnings": list(self.warnings),
        }

    def to_text(self, *, max_warnings: int = 20, max_rejections: int = 50) -> str:
        """A plain-text summary for the terminal (at most ``max_rejections`` reasons and
        ``max_warnings`` warnings are listed; the counts cover all)."""
        lines = [f"{self.files} file(s) read in {self.seconds:.1f} s"]
        for outcome in ("imported", "updated", "merged", "duplicate", "superseded"):
            if self.outcomes[outcome]:
                parts = sorted(
                    (key.split(":", 1)[1], n)
                    for key, n in self.outcomes.items()
                    if key.startswith(f"{outcome}:") and n
                )
                detail = ", ".join(f"{what} {n}" for what, n in parts)
                suffix = f" ({detail})" if detail else ""
                lines.append(f"  {outcome:<11} {self.outcomes[outcome]}{suffix}")
        lines.append(f"  {'rejected':<11} {self.rejected}")
        if self.rejections:
            lines.append(f"Rejected ({len(self.rejections)} problem(s)):")
            by_category = Counter(r.category for r in self.rejections)
            for category, n in by_category.most_common():
                lines.append(f"  {category}: {n}")
            lines.extend(f"  - {r.reason}" for r in self.rejections[:max_rejections])
            if len(self.rejections) > max_rejections:
                lines.append(f"  ... {len(self.rejections) - max_rejections} more")
        if self.warnings:
            lines.append(f"Warnings ({len(self.warnings)}):")
            lines.extend(f"  - {w}" for w in self.warnings[:max_warnings])
            if len(self.warnings) > max_warnings:
                lines.append(f"  ... {len(self.warnings) - max_warnings} more")
        return "\n".join(lines)
