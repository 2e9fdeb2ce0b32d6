"""The final report of `crbio convert`: one line of totals, then tables, on standard error.

Documents converted and rejected (by reason, then each rejected file on one grep-able
line), resources written by type, issues by code, duplicates merged and replaced
reports left out (NDJSON), documents skipped by `--resume`, duration and rate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson
from rich.markup import escape
from rich.table import Table

from bridge.cli.problems import err
from bridge.export import Manifest, Published

__all__ = ["RunReport", "document_summary"]


def document_summary(counts: Counter[str], issues: tuple[dict[str, str], ...]) -> bytes:
    """What the manifest keeps of a converted document for the report."""
    found = Counter(f"{i['severity']}|{i['code']}" for i in issues)
    return orjson.dumps({"resources": counts, "issues": found})


@dataclass(slots=True)
class RunReport:
    converted: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    resources: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    published: Published | None = None  # NDJSON: what was written after de-duplication
    skipped: int = 0  # converted by the interrupted run, not again
    unlisted: list[str] = field(default_factory=list)  # folders that could not be read
    seconds: float = 0.0
    converted_now: int = 0
    output_name: str = "NDJSON"  # what `published` was written as

    def completed(self, manifest: Manifest, published: Published | None) -> RunReport:
        """The report of the whole run (the interrupted one included), from the manifest;
        this run's own figures (duration, skipped…) are kept."""
        report = RunReport(
            published=published,
            skipped=self.skipped,
            unlisted=self.unlisted,
            seconds=self.seconds,
            converted_now=self.converted_now,
        )
        for document in manifest.documents():
            if not document.converted:
                report.rejected.append((document.path, document.reason or "rejected"))
                continue
            report.converted += 1
            summary = orjson.loads(document.summary or b"{}")
            if published is None:
                report.resources.update(summary.get("resources", {}))
            for key, count in summary.get("issues", {}).items():
                severity, _, code = key.partition("|")
                (report.notes if severity == "information" else report.warnings)[code] += count
        if published is not None:
            report.resources = published.resources
        return report

    def print(self) -> None:
        rate = self.converted_now / self.seconds if self.seconds > 0 else 0.0
        err.print(
            f"[bold]{self.converted}[/bold] document(s) converted, "
            f"[bold]{sum(self.resources.values())}[/bold] resources, "
            f"[bold]{sum(self.warnings.values())}[/bold] warning(s), "
            f"[bold]{sum(self.notes.values())}[/bold] note(s), "
            f"[bold]{len(self.rejected)}[/bold] rejected "
            f"in {self.seconds:.1f} s ({rate:.1f} documents/s)",
            highlight=False,
        )
        if self.skipped:
            err.print(
                f"{self.skipped} document(s) converted by the interrupted run were not "
                "converted again (--resume)",
                highlight=False,
            )
        if self.published is not None:
            published = self.published
            err.print(
                f"{self.output_name}: one line per resource id; {published.duplicates} duplicate "
                "version(s) merged (a resource several documents write is kept as the newest "
                f"document wrote it), {published.left_out} resource(s) of "
                f"{published.replaced} replaced report(s) left out",
                highlight=False,
            )
        self._tables()
        for path, reason in self.rejected:  # one line each, never wrapped: grep-able
            err.print(
                f"[red]rejected[/red] {escape(path)}: {escape(reason)}",
                highlight=False,
                soft_wrap=True,
            )
        for folder in self.unlisted:
            err.print(f"[red]unreadable[/red] {escape(folder)}", highlight=False, soft_wrap=True)

    def _tables(self) -> None:
        if self.resources:
            table = Table("resource type", "count", title="Resources", title_justify="left")
            for name, count in sorted(self.resources.items()):
                table.add_row(name, str(count))
            err.print(table)
        if self.warnings or self.notes:
            table = Table("issue", "severity", "count", title="Issues", title_justify="left")
            for counter, severity in ((self.warnings, "warning"), (self.notes, "information")):
                for name, count in counter.most_common():
                    table.add_row(name, severity, str(count))
            err.print(table)
        if self.rejected:
            reasons = Counter(reason.partition(":")[0] for _, reason in self.rejected)
            table = Table("reason", "documents", title="Rejected", title_justify="left")
            for name, count in reasons.most_common():
                table.add_row(escape(name), str(count))
            err.print(table)
