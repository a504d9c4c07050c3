"""The progress bar on stderr, drawn only when stderr is a terminal (also with ``--json``: the
bar goes to stderr, the JSON to stdout) and never with ``--quiet``.

One line per stage: ``stage 2/4 storing payload on default``, a bar, the files done of the
stage's files, the bytes where bytes mean something (not for identification, which counts
files), the stage's real rate (what it did divided by the time it took: MB/s, or files/s where
there are no bytes), the time the stage still needs and an estimate of the whole run's."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

from preserve.cli.output import human_bytes
from preserve.progress import Stage

#: the whole-run estimate is shown once this share of the run is done (earlier it is noise)
ESTIMATE_AFTER = 0.02
LABEL_WIDTH = 40


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def rate_text(done: float, elapsed: float, by_bytes: bool) -> str:
    """``12.3 MB/s`` or ``850 files/s``: what was done over the time it took."""
    if elapsed <= 0 or done <= 0:
        return "-- MB/s" if by_bytes else "-- files/s"
    rate = done / elapsed
    if by_bytes:
        return f"{human_bytes(rate)}/s"
    return f"{rate:,.1f} files/s" if rate < 10 else f"{rate:,.0f} files/s"


class TerminalProgress:
    """A progress bar on stderr, one line per stage (see the module's docstring)."""

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True)
        self._lock = threading.Lock()
        self._progress: Any = None
        self._task: Any = None
        self._run_started = time.monotonic()
        self._stage: Stage | None = None
        self._started = self._ended = 0.0
        self._files = self._total_files = 0
        self._bytes = self._total_bytes = 0

    # ------------------------------------------------------------------ what the columns show

    def _fraction(self) -> float:
        if self._total_bytes:
            return min(1.0, self._bytes / self._total_bytes)
        return min(1.0, self._files / self._total_files) if self._total_files else 1.0

    def counts(self) -> str:
        noun = "file" if self._total_files == 1 else "files"
        files = f"{self._files}/{self._total_files} {noun}"
        if not self._total_bytes:
            return files
        return f"{files}  {human_bytes(self._bytes)} of {human_bytes(self._total_bytes)}"

    def rate(self) -> str:
        elapsed = (self._ended or time.monotonic()) - self._started
        by_bytes = bool(self._total_bytes)
        return rate_text(self._bytes if by_bytes else self._files, elapsed, by_bytes)

    def times(self) -> str:
        now = self._ended or time.monotonic()
        elapsed = now - self._started
        fraction = self._fraction()
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        if self._ended:
            text = f"done in {_duration(elapsed)}"
        else:
            text = "-:-- left" if left is None else f"{_duration(left)} left"
        stage = self._stage
        if stage is not None and stage.after < 1:
            overall = stage.before + (stage.after - stage.before) * fraction
            if overall >= ESTIMATE_AFTER:
                run = now - self._run_started
                in_all = run * (1 - overall) / overall
                # worth showing only when the later stages add to this one's time
                if in_all >= (left or 0) + 1:
                    text += f", about {_duration(in_all)} left in all"
        return text

    # ------------------------------------------------------------------ Progress

    def begin(self, label: str, files: int, nbytes: int, stage: Stage | None = None) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.end()
        with self._lock:
            self._stage = stage
            self._started, self._ended = time.monotonic(), 0.0
            self._files, self._total_files = 0, files
            self._bytes, self._total_bytes = 0, nbytes
        if stage is not None:
            label = f"{stage.within}{stage.noun} {stage.number}/{stage.count} {label}"
        description = label.ljust(LABEL_WIDTH)  # the bars of successive stages line up
        columns = (
            TextColumn("{task.description}", markup=False),  # a name may hold [brackets]
            BarColumn(bar_width=30),
            _column(self.counts),
            _column(self.rate),
            _column(self.times),
        )
        self._progress = Progress(*columns, console=self._console, transient=False)
        self._task = self._progress.add_task(description, total=nbytes or files or 1)
        self._progress.start()

    def advance(self, files: int, nbytes: int) -> None:
        with self._lock:
            self._files += files
            self._bytes += nbytes
            completed = self._bytes if self._total_bytes else self._files
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def end(self) -> None:
        progress = self._progress
        if progress is None:
            return
        with self._lock:
            self._ended = time.monotonic()
        progress.update(self._task, completed=self._bytes if self._total_bytes else self._files)
        progress.stop()  # draws the final line, which stays on the screen
        self._progress = None


def _column(text: Any) -> Any:
    """A column showing what ``text()`` returns (rich is imported only once a bar is drawn)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Column(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(text())

    return Column()


def progress() -> TerminalProgress | None:
    """A progress bar when stderr is a terminal and the command is not ``--quiet``."""
    root = click.get_current_context().find_root()
    if root.meta.get("quiet") or not sys.stderr.isatty():
        return None
    return TerminalProgress()
