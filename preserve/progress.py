"""Progress reporting: what long services (ingest, fixity) tell an adapter while they work.

A command runs in *stages* (an ingest: hashing and copying, storing the payload, identifying
formats, storing the metadata; a fixity run: one stage per copy). Each stage is announced with
:meth:`Progress.begin`, giving its files and bytes (0 bytes where bytes mean nothing, such as
identification, which counts files), its place among the stages and, so an adapter can estimate
the whole run, the fraction of the whole run's work it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Stage:
    """Where a stage stands in the run: ``number`` of ``count`` (1-based), and the share of
    the whole run's work done before it starts (``before``) and once it ends (``after``),
    both between 0 and 1, so the run's remaining time can be estimated from its elapsed time."""

    number: int
    count: int
    before: float = 0.0
    after: float = 1.0
    #: what the run is made of: "stage" (stage 2/4 ...), "copy" (a fixity run: copy 3/15 ...)
    noun: str = "stage"
    #: the part of a larger run this stage belongs to ("photos-1923 (2/5): "), shown first
    within: str = ""

    def __post_init__(self) -> None:
        if not (1 <= self.number <= self.count and 0 <= self.before <= self.after <= 1):
            raise ValueError(f"inconsistent stage {self}")


class Progress(Protocol):
    """The CLI draws this as a progress bar; workers may report it as task state. Calls may
    come from several threads."""

    def begin(self, label: str, files: int, nbytes: int, stage: Stage | None = None) -> None: ...
    def advance(self, files: int, nbytes: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    """Reports nothing."""

    def begin(self, label: str, files: int, nbytes: int, stage: Stage | None = None) -> None:
        pass

    def advance(self, files: int, nbytes: int) -> None:
        pass

    def end(self) -> None:
        pass


class Prefixed:
    """Another progress whose stages are a part of a larger run (a delivery of a multi-path
    ingest): named by ``prefix`` before their number, their shares scaled into the part."""

    def __init__(self, inner: Progress, prefix: str, start: float = 0.0, end: float = 1.0) -> None:
        self.inner = inner
        self.prefix = prefix
        self.start = start
        self.span = end - start

    def begin(self, label: str, files: int, nbytes: int, stage: Stage | None = None) -> None:
        if stage is not None:
            stage = Stage(
                stage.number,
                stage.count,
                self.start + self.span * stage.before,
                self.start + self.span * stage.after,
                stage.noun,
                self.prefix + stage.within,
            )
        else:
            label = self.prefix + label
        self.inner.begin(label, files, nbytes, stage)

    def advance(self, files: int, nbytes: int) -> None:
        self.inner.advance(files, nbytes)

    def end(self) -> None:
        self.inner.end()
