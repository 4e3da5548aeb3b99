"""Progress of long local work: a rich bar on stderr (counts, an ETA), handed to the modules as a plain callback.

The modules take `progress: Callable[[int, int], None] | None` (done, total) and know nothing of rich; the
CLI opens a bar around the call. The bar is drawn only when stderr is a terminal, or when asked
(`show=True`), and never on stdout: `--json` output stays exactly the JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

Progress = Callable[[int, int], None]
# run_history's form: (what, how many more), e.g. ("records", 1000).
Counts = Callable[[str, int], None]


def shown(show: bool | None, stream: IO[str] | None = None) -> bool:
    """Whether to draw: as asked, else only on a terminal."""
    return (stream or sys.stderr).isatty() if show is None else show


def _bar(stream: IO[str] | None) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream or sys.stderr, force_terminal=True) if stream else Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def progress_bar(description: str, *, show: bool | None = None, stream: IO[str] | None = None) -> Iterator[Progress]:
    """A callback progress(done, total) that moves one bar while the block runs (does nothing when not shown)."""
    if not shown(show, stream):
        yield lambda _done, _total: None
        return
    with _bar(stream) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def progress_counts(
    totals: dict[str, int | None], *, show: bool | None = None, stream: IO[str] | None = None
) -> Iterator[Counts]:
    """A callback progress(what, n) that adds n to the bar of `what` (one bar per key; None: total unknown)."""
    if not shown(show, stream):
        yield lambda _what, _n: None
        return
    with _bar(stream) as bar:
        tasks = {what: bar.add_task(what, total=total) for what, total in totals.items()}
        yield lambda what, n: bar.advance(tasks[what], n)


@contextmanager
def from_log(*, echo: bool, show: bool | None = None, stream: IO[str] | None = None) -> Iterator[Callable[[str], None]]:
    """A callback for a function's log lines: its `progress` lines move a bar; every line is echoed if asked.

    A job logs `{"progress": {"step", "done", "total"}}` (creditwatch_common.observability: `progress`);
    the bar shows the step, the count and an ETA. Echoed lines print above the bar, as they come.
    """
    out = stream or sys.stderr
    if not shown(show, stream):

        def write(line: str) -> None:
            if echo:
                out.write(line)

        yield write
        return
    with _bar(stream) as bar:
        task = bar.add_task("starting", total=None)

        def on_line(line: str) -> None:
            if echo:
                bar.console.print(line.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
            if '"progress"' not in line:
                return
            try:
                step = json.loads(line)["progress"]
                bar.update(task, description=str(step["step"]), completed=int(step["done"]), total=int(step["total"]))
            except (ValueError, KeyError, TypeError):
                return  # a line that only mentions progress

        yield on_line
