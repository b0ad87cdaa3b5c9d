"""What every command shares for printing: the consoles and progress bars for long work."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

ProgressCallback = Callable[[str, int, int], None]
"""progress(label, done, total): `label` names what is being worked on (a product, say); one bar per label."""


def console(stderr: bool = False) -> Console:
    """A Rich console: tables go to stdout, progress and notes to stderr."""
    from rich.console import Console

    # No emoji codes: a name such as `:memory:` prints as written, and Rich's emoji table stays unloaded.
    shown = Console(stderr=stderr, highlight=False, emoji=False)
    if not shown.is_terminal and "COLUMNS" not in os.environ:
        # Piped output goes to programs and pagers: one line per row reads better than wrapping at 80.
        shown.width = 160
    return shown


@contextmanager
def progress_bar(description: str, min_total: int = 2) -> Iterator[ProgressCallback]:
    """Transient progress bars on stderr, one per label, drawn once work of `min_total` steps reports.

    Only on a terminal: piped or redirected, stderr gets no bars (they would leave blank lines in a log).
    """
    screen = console(stderr=True)
    if not screen.is_terminal:
        yield lambda label, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bars = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=screen,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(label: str, done: int, total: int) -> None:
        if total < min_total:
            return
        if label not in tasks:
            bars.start()
            tasks[label] = bars.add_task(f"{description} {label}".strip(), total=total)
        bars.update(tasks[label], completed=done, total=total)
        if all(task.finished for task in bars.tasks):
            # Finished bars leave the screen at once, so the next stage's bars may take it.
            bars.stop()

    try:
        yield update
    finally:
        if tasks:
            bars.stop()
