"""Progress reporting: what long services (ingest, fixity) tell an adapter while they work."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """The CLI draws this as a progress bar; workers may report it as task state."""

    def begin(self, label: str, files: int, nbytes: int) -> None: ...
    def advance(self, files: int, nbytes: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    """Reports nothing."""

    def begin(self, label: str, files: int, nbytes: int) -> None:
        pass

    def advance(self, files: int, nbytes: int) -> None:
        pass

    def end(self) -> None:
        pass
