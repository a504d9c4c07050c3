"""The progress bar on stderr."""

from __future__ import annotations

import sys
from typing import Any


class TerminalProgress:
    """A progress bar on stderr with files, bytes and MB/s (only on a terminal)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(binary_units=False),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        self._mofn = MofNCompleteColumn
        self._progress_cls = Progress
        self._console = Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None
        self._files = 0
        self._total_files = 0

    def begin(self, label: str, files: int, nbytes: int) -> None:
        self._progress = self._progress_cls(*self._columns, console=self._console, transient=False)
        self._progress.start()
        self._files, self._total_files = 0, files
        total = nbytes if nbytes else files
        self._by_files = not nbytes
        self._task = self._progress.add_task(label, total=total, files=f"0/{files}")

    def advance(self, files: int, nbytes: int) -> None:
        self._files += files
        step = files if self._by_files else nbytes
        self._progress.update(self._task, advance=step, files=f"{self._files}/{self._total_files}")

    def end(self) -> None:
        if self._progress is not None:
            # the speed shown at the end is what was done over the whole run: results may
            # arrive in bursts (a batch of small files at once), which rich's estimate overstates
            for task in self._progress.tasks:
                if task.id == self._task and task.elapsed:
                    task.finished_speed = task.completed / task.elapsed
            self._progress.stop()
            self._progress = None


def progress(json_output: bool) -> Any:
    if not json_output and sys.stderr.isatty():
        return TerminalProgress()
    return None
