"""Stage 3, identify: PRONOM format (siegfried), MIME type and image properties of each file.

Identification starts while the files are still being staged (:class:`Identification` hands each
staged batch to the helper processes of :mod:`preserve.formats`) and is collected once the
payload is stored; batches no helper has started yet are done by this process, from the last
one backwards, so helpers and this process never wait for each other.
"""

from __future__ import annotations

from pathlib import Path

from preserve import premis
from preserve.formats import (
    PendingIdentification,
    image_properties,
    is_image,
    submit_identification,
)
from preserve.formats.checks import file_problems
from preserve.ingest.model import Delivery, StagedFile, event
from preserve.progress import Progress, Stage

_ADVANCE_EVERY = 64  # files read for image properties between two progress updates


class Identification:
    """The identification of a delivery's files, under way in helper processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pending: list[tuple[list[StagedFile], PendingIdentification]] = []

    def submit(self, files: list[StagedFile]) -> None:
        """Start identifying ``files`` (their staged copies) in a helper process; without
        helpers, identify them now: this thread would otherwise wait for the threads copying
        large files (siegfried holds the GIL only briefly per file)."""
        paths = [f.staged or f.source for f in files]
        pending = submit_identification(paths, workers=self.workers)
        if self.workers <= 1:
            for f, info in zip(files, pending.result(), strict=True):
                f.fmt = info
            return
        self._pending.append((files, pending))

    def cancel(self) -> None:
        for _files, pending in self._pending:
            pending.cancel()
        self._pending.clear()

    def collect(self, delivery: Delivery, progress: Progress, stage: Stage | None = None) -> None:
        """Wait for every result (doing unstarted batches here); read image properties.

        Progress counts files (identification has no meaningful byte count): a file counts
        once its format is known and, for an image, its properties are read."""
        progress.begin("identifying formats", len(delivery.files), 0, stage)
        try:
            # helpers work from the first batch on; this process takes the last ones
            pending_files: set[int] = set()
            for files, pending in reversed(self._pending):
                pending_files.update(id(f) for f in files)
                for f, info in zip(files, pending.result(), strict=True):
                    f.fmt = info
                    if is_image(info):
                        _image(f, delivery)
                progress.advance(len(files), 0)
            self._pending.clear()
            # identified while staging (no helpers): only the images are left to read
            done = 0
            for f in delivery.files:
                if id(f) in pending_files:
                    continue
                if f.fmt is not None and is_image(f.fmt) and f.image is None:
                    _image(f, delivery)  # (known already for content a package holds)
                done += 1
                if done == _ADVANCE_EVERY:
                    progress.advance(done, 0)
                    done = 0
            progress.advance(done, 0)
        finally:
            progress.end()
        add_file_problems(delivery)


def delivery_path(delivery: Delivery, f: StagedFile) -> str:
    """Where ``f`` is inside the delivery, as its warnings name it: ``data/...`` in an incoming
    bag, else its path in the delivered folder (the file's name for a single file)."""
    return f.bag_path if delivery.submission else f.relpath


def add_file_problems(delivery: Delivery) -> None:
    """One warning per problem of each identified file (:func:`file_problems`, the check
    ``preserve show`` and ``preserve identify`` use), unless the delivery reported it already
    (a zero-byte file)."""
    seen = {(w.code, w.path) for w in delivery.warnings}
    for f in delivery.files:
        if f.fmt is None or f.held:
            continue
        for problem in file_problems(delivery_path(delivery, f), f.fmt, f.image):
            if (problem.code, problem.path) not in seen:
                seen.add((problem.code, problem.path))
                delivery.warnings.append(problem)


def _image(f: StagedFile, delivery: Delivery) -> None:
    assert f.fmt is not None
    f.image = image_properties(Path(f.staged or f.source), f.fmt.mime)


def identification_event(delivery: Delivery) -> premis.EventRecord:
    """One PREMIS format identification event for the package: PUIDs counted, tool named."""
    puids: dict[str, int] = {}
    tool = ""
    for f in delivery.files:
        if f.fmt:
            puids[f.fmt.puid] = puids.get(f.fmt.puid, 0) + 1
            tool = f"{f.fmt.tool} ({f.fmt.signature_version})"
    counted = ", ".join(f"{p}: {n}" for p, n in sorted(puids.items()))
    name, _, version = tool.partition(" ")
    agent = premis.AgentRecord(name=name or "siegfried", version=version.strip() or "unknown")
    unknown = puids.get("UNKNOWN", 0)
    return event(
        premis.FORMAT_IDENTIFICATION,
        "warning" if unknown else "success",
        f"identified {len(delivery.files)} files with {tool}",
        counted,
        agent=agent,
    )
