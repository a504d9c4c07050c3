"""The progress bar on stderr, drawn only when stderr is a terminal (also with ``--json``: the
bar goes to stderr, the JSON to stdout) and never with ``--quiet``.

One line per stage: ``stage 2/4 storing payload on default``, a bar, the files done of the
stage's files, the bytes where bytes mean something (not for identification, which counts
files), the stage's real rate (what it did divided by the time it took: MB/s, or files/s where
there are no bytes), the time the stage still needs and an estimate of the whole run's.

A stage is always one line, whatever the terminal's width: where the whole line does not fit,
the bar shrinks and goes first, then the whole run's estimate, then the bytes, then the rate;
a long name is shortened with an ellipsis. A stage ends with ``done in ...`` or, when an
error or an interruption passes through it, ``stopped``."""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import click

from preserve.cli.output import human_bytes
from preserve.progress import Stage

#: the whole-run estimate is shown once this share of the run is done (earlier it is noise)
ESTIMATE_AFTER = 0.02
#: a rate measured over a shorter stage is noise (a hard link, the page cache): not shown
RATE_AFTER_SECONDS = 0.5
LABEL_WIDTH = 40  # the bars of successive stages line up, where the terminal is wide enough
NAME_MIN = 4  # a delivery's name is shortened to no fewer letters (and an ellipsis)
NAME_READABLE = 12  # ... and to this many while the counts keep their times beside it
#: room kept for a stage's name ("storing metadata on default") when a delivery's lines are
#: planned at its first stage, and for the counts and times beside it
STAGE_LABEL_RESERVE = 27
INFO_RESERVE = 20
BAR_WIDTH = 30
BAR_MIN = 10
ELLIPSIS = "…"

_UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_PART = re.compile(r" \(\d+/\d+\): $")  # the end of Prefixed's "name (2/5): "


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _took(seconds: float) -> str:
    """How long a stage took: ``0.3 s`` under a second (``0:00`` says nothing), else ``1:05``."""
    if seconds < 0.1:
        return "under 0.1 s"
    return f"{seconds:.1f} s" if seconds < 1 else _duration(seconds)


def rate_text(done: float, elapsed: float, by_bytes: bool, compact: bool = False) -> str:
    """``12.3 MB/s`` or ``850 files/s``: what was done over the time it took; empty while too
    little time has passed for the rate to mean anything. ``compact``: ``325 KB/s``."""
    if elapsed < RATE_AFTER_SECONDS:
        return ""
    if done <= 0:
        return "-- MB/s" if by_bytes else "-- files/s"
    rate = done / elapsed
    if by_bytes:
        return f"{_compact(rate) if compact else human_bytes(rate)}/s"
    return f"{rate:,.1f} files/s" if rate < 10 else f"{rate:,.0f} files/s"


def _compact(n: float) -> str:
    """``human_bytes`` without the decimal from 100 up: ``157 MB``, ``35.7 MB``."""
    text = human_bytes(n)
    number, unit = text.split(" ")
    return f"{float(number):.0f} {unit}" if "." in number and float(number) >= 100 else text


def _bytes_of(done: int, total: int, compact: bool) -> str:
    """``35.7 MB of 157.3 MB``, or compact ``35.7/157 MB``."""
    if not compact:
        return f"{human_bytes(done)} of {human_bytes(total)}"
    d, t = _compact(done), _compact(total)
    d_number, d_unit = d.split(" ")
    t_unit = t.split(" ")[1]
    return f"{d_number}/{t}" if d_unit == t_unit else f"{d}/{t}"


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut at the end with an ellipsis."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + ELLIPSIS if width > 0 else ""


@dataclass(frozen=True)
class Layout:
    """What one line shows at a given width."""

    label: str  # padded to its column's width
    bar: int  # 0: no bar
    info: str


@dataclass(frozen=True)
class _Plan:
    """How the stage lines of one delivery are named at one width: with ``stage`` and the
    wide spacing (``full``), or compact with the delivery's name cut to ``name`` characters
    (None: not cut)."""

    full: bool
    name: int | None


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
        self._label = ""
        self._started = self._ended = 0.0
        self._stopped = False
        self._files = self._total_files = 0
        self._bytes = self._total_bytes = 0
        self._layout = Layout("", 0, "")
        #: per delivery (its prefix) and width: how its lines are laid out (see _plan)
        self._plans: dict[tuple[str, int], _Plan] = {}

    # ------------------------------------------------------------------ what the line shows

    def _fraction(self) -> float:
        if self._total_bytes:
            return min(1.0, self._bytes / self._total_bytes)
        return min(1.0, self._files / self._total_files) if self._total_files else 1.0

    def counts(self, with_bytes: bool = True, compact: bool = False, at_end: bool = False) -> str:
        """``3/6 files  35.7 MB of 157.3 MB`` (``at_end``: as the stage's end shows them)."""
        noun = "file" if self._total_files == 1 else "files"
        done_files, done_bytes = (
            (self._total_files, self._total_bytes) if at_end else (self._files, self._bytes)
        )
        files = f"{done_files}/{self._total_files} {noun}"
        if not self._total_bytes or not with_bytes:
            return files
        gap = " " if compact else "  "
        return f"{files}{gap}{_bytes_of(done_bytes, self._total_bytes, compact)}"

    def rate(self, compact: bool = False) -> str:
        if self._stopped:
            return ""
        elapsed = (self._ended or time.monotonic()) - self._started
        by_bytes = bool(self._total_bytes)
        return rate_text(self._bytes if by_bytes else self._files, elapsed, by_bytes, compact)

    def times(self, overall: bool = True) -> str:
        if self._stopped:
            return "stopped"
        now = self._ended or time.monotonic()
        elapsed = now - self._started
        fraction = self._fraction()
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        if self._ended:
            text = f"done in {_took(elapsed)}"
        else:
            text = "-:-- left" if left is None else f"{_duration(left)} left"
        stage = self._stage
        if overall and stage is not None and stage.after < 1:
            fraction_of_run = stage.before + (stage.after - stage.before) * fraction
            if fraction_of_run >= ESTIMATE_AFTER:
                run = now - self._run_started
                in_all = run * (1 - fraction_of_run) / fraction_of_run
                # worth showing only when the later stages add to this one's time
                if in_all >= (left or 0) + 1:
                    text += f", about {_duration(in_all)} left in all"
        return text

    def _labels(self) -> tuple[str, str]:
        """The stage's name in full (``photos (2/5): stage 2/4 storing payload on default``)
        and compact (``photos (2/5): 2/4 storing payload on default``, identifiers cut to
        their first 8 characters, which the commands accept as a prefix)."""
        stage, label = self._stage, self._label
        short = _UUID.sub(r"\1", label)
        if stage is None:
            return label, short
        within = stage.within
        full = f"{within}{stage.noun} {stage.number}/{stage.count} {label}"
        return full, f"{within}{stage.number}/{stage.count} {short}"

    def _plan(self, room: int) -> _Plan:
        """How the lines of the delivery under way are laid out at this width, chosen once
        (at its first line) from the widest line its stages need, so that every stage line
        names it alike: ``stage`` and the wide spacing on all of them or none, and the
        delivery's name cut to the same length on all of them."""
        within = self._stage.within if self._stage is not None else ""
        key = (within, room)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        full, compact = self._labels()
        short = len(_UUID.sub(r"\1", self._label))
        label = len(compact) - len(within) - short + max(short, STAGE_LABEL_RESERVE)
        # the widest line of the full style: every part at its widest, beside a short bar
        widest = "  ".join(
            (self.counts(at_end=True), "999.9 MB/s", "0:00:00 left, about 0:00:00 left in all")
        )
        full_label = len(full) - len(self._label) + max(len(self._label), STAGE_LABEL_RESERVE)
        if room - max(full_label, LABEL_WIDTH) - len(widest) - 2 >= BAR_MIN:
            plan = _Plan(full=True, name=None)
        else:
            plan = _Plan(full=False, name=self._name_width(within, room - 2 - label))
        self._plans[key] = plan
        return plan

    def _name_width(self, within: str, room: int) -> int | None:
        """The delivery's name's width in ``room`` (what the stage leaves for it and the
        counts): the most of the counts that leaves the name readable; None when the name
        is not a delivery's (nothing is cut) or cannot be kept (cut at the end instead)."""
        part = _PART.search(within)
        if part is None:
            return None
        name, place = part.start(), len(within) - part.start()
        files = len(self.counts(with_bytes=False, at_end=True))
        for info, least in ((INFO_RESERVE, NAME_READABLE), (files, NAME_MIN)):
            width = room - place - info
            if width >= least:
                return min(name, width)
        return None

    def _cut(self, label: str, plan: _Plan) -> str:
        """``label`` with the delivery's name cut to the plan's width."""
        within = self._stage.within if self._stage is not None else ""
        part = _PART.search(within)
        if plan.name is None or part is None or part.start() <= plan.name:
            return label
        return within[: plan.name - 1] + ELLIPSIS + label[part.start() :]

    def layout(self, width: int) -> Layout:
        """The fullest line that fits in ``width`` columns: the bar shrinks and goes first,
        then the whole run's estimate, then the bytes, then the rate. The stage's name (with
        ``stage`` or compact, a delivery's name shortened) is chosen once per delivery (see
        :meth:`_plan`). Only on a terminal too narrow for the name and the file count is the
        name cut at its end."""
        room = width - 1  # writing the last column makes some terminals wrap
        plan = self._plan(room)
        full, compact = self._labels()
        label = full if plan.full else self._cut(compact, plan)
        rate = self.rate(compact=True)
        files = self.counts(with_bytes=False)
        if plan.full:
            wide = "  ".join(p for p in (self.counts(), self.rate(), self.times()) if p)
            column = max(len(full), LABEL_WIDTH)  # bars of successive stages line up
            bar = min(BAR_WIDTH, room - column - len(wide) - 2)
            if bar >= BAR_MIN:
                return Layout(full.ljust(column), bar, wide)
            texts = [wide, "  ".join(p for p in (files, self.times(overall=False)) if p), files]
        else:
            texts = [
                " ".join(p for p in parts if p)
                for parts in (
                    (self.counts(compact=True), rate, self.times()),
                    (self.counts(compact=True), rate, self.times(overall=False)),
                    (files, rate, self.times(overall=False)),
                    (files, self.times(overall=False)),
                    (files,),
                )
            ]
        for text in texts:
            if len(label) + 2 + len(text) <= room:
                return Layout(label, 0, text)
        # narrower than any of that: the label takes what the file count leaves
        return Layout(shorten(label, room - 2 - len(files)), 0, files)

    # ------------------------------------------------------------------ Progress

    def begin(self, label: str, files: int, nbytes: int, stage: Stage | None = None) -> None:
        from rich.progress import Progress

        self.end()
        with self._lock:
            self._stage = stage
            self._label = label
            self._started, self._ended, self._stopped = time.monotonic(), 0.0, False
            self._files, self._total_files = 0, files
            self._bytes, self._total_bytes = 0, nbytes
        self._progress = Progress(*_columns(self), console=self._console, transient=False)
        self._task = self._progress.add_task(label, total=nbytes or files or 1)
        self._progress.start()

    def advance(self, files: int, nbytes: int) -> None:
        with self._lock:
            self._files += files
            self._bytes += nbytes
            completed = self._bytes if self._total_bytes else self._files
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def end(self) -> None:
        """End the stage: ``done``, or ``stopped`` when called while an error or an
        interruption passes through (the services call it in a ``finally``)."""
        progress = self._progress
        if progress is None:
            return
        self._progress = None
        with self._lock:
            self._ended = time.monotonic()
            self._stopped = sys.exc_info()[0] is not None
        completed = self._bytes if self._total_bytes else self._files
        progress.update(self._task, completed=completed)
        progress.stop()  # draws the final line, which stays on the screen


def _columns(shown: TerminalProgress) -> tuple[Any, ...]:
    """The label, the bar and the rest, laid out for the console's width (rich renders the
    columns of a row in order: the label's lays the line out, the others follow it). Every
    column is one line, cut with an ellipsis if it ever came to that (rich imported late)."""
    from rich.progress import BarColumn, ProgressColumn
    from rich.table import Column
    from rich.text import Text

    def one_line() -> Column:
        return Column(no_wrap=True, overflow="ellipsis")

    class LabelColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            shown._layout = shown.layout(shown._console.width)
            return Text(shown._layout.label, no_wrap=True, overflow="ellipsis")

    class Bar(BarColumn):
        def render(self, task: Any) -> Any:
            if not shown._layout.bar:
                return Text("")
            self.bar_width = shown._layout.bar
            return super().render(task)

    class InfoColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(shown._layout.info, no_wrap=True, overflow="ellipsis")

    return (
        LabelColumn(table_column=one_line()),
        Bar(table_column=one_line()),
        InfoColumn(table_column=one_line()),
    )


def progress() -> TerminalProgress | None:
    """A progress bar when stderr is a terminal and the command is not ``--quiet``."""
    root = click.get_current_context().find_root()
    if root.meta.get("quiet") or not sys.stderr.isatty():
        return None
    return TerminalProgress()
