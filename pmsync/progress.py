"""What `pmsync sync` shows on a terminal while a cycle runs: a line per tool with its
pages and records as they come, then link, sum and publish. Nothing with --json or when
the output is not a terminal (a pipe, cron, CI): the listener is then None."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from flows.pipeline import Progress as Listener

STEPS = {
    "link": "links",
    "sum": "issues summed",
    "publish": "issues written",
    "close-loop": "notes written",
}


class CycleProgress:
    """Turns a cycle's events (services.apply.Progress) into rich progress lines."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.rows: dict[str, TaskID] = {}
        self.pages: dict[str, int] = {}
        self.records: dict[str, int] = {}

    def _row(self, name: str) -> TaskID:
        if name not in self.rows:
            self.rows[name] = self.bars.add_task(name, total=None, detail="")
        return self.rows[name]

    def __call__(self, event: str, name: str, count: int) -> None:
        if event == "page":
            self.pages[name] = self.pages.get(name, 0) + 1
            self.records[name] = self.records.get(name, 0) + count
            self.bars.update(
                self._row(name),
                detail=f"{self.pages[name]} pages, {self.records[name]} records",
            )
        elif event == "pulled":
            pages = self.pages.get(name, 0)
            self.bars.update(
                self._row(name),
                total=1,
                completed=1,
                detail=f"{pages} pages, {count} records pulled",
            )
        elif event == "failed":
            self.bars.update(self._row(name), total=1, completed=1, detail="[red]failed[/red]")
        elif event == "step":
            self.bars.update(self._row(name), detail="...")
        elif event == "done":
            self.bars.update(
                self._row(name), total=1, completed=1, detail=f"{count} {STEPS.get(name, '')}"
            )


@contextlib.contextmanager
def cycle_progress(console: Console, enabled: bool) -> Iterator[Listener | None]:
    """A listener drawing on `console` while the block runs, or None when not `enabled`
    or `console` is no terminal."""
    if not enabled or not console.is_terminal:
        yield None
        return
    bars = Progress(
        SpinnerColumn(finished_text="[green]✓[/green]"),
        TextColumn("[bold]{task.description:<11}"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with bars:
        yield CycleProgress(bars)
