"""The benchmark corpora: random bytes in a fixed shape, generated once and reused.

A corpus lives in ``<workdir>/<name>/`` with a marker ``<workdir>/<name>.json`` written after the
last byte, so an interrupted generation is redone. A corpus is reused when the marker matches its
spec and the files on disk still have the right number and sizes; otherwise it is regenerated.
The content (os.urandom) differs between generations, the shape never does.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

MB = 1_000_000
CHUNK = 8 << 20  # bytes of random data written at a time


@dataclass(frozen=True)
class CorpusSpec:
    """``files`` files of ``file_size`` bytes, spread evenly over ``folders`` folders (0: flat)."""

    key: str  # A, B, C, D
    name: str  # folder name under the workdir
    files: int
    file_size: int
    folders: int
    description: str

    @property
    def total_bytes(self) -> int:
        return self.files * self.file_size

    def relative_paths(self) -> Iterator[str]:
        width = max(len(str(self.files - 1)), 1)
        for i in range(self.files):
            name = f"file-{i:0{width}d}.bin"
            if self.folders:
                yield f"folder-{i % self.folders:02d}/{name}"
            else:
                yield name


FULL: dict[str, CorpusSpec] = {
    "A": CorpusSpec("A", "corpus-A", 20, 50 * MB, 0, "20 files of 50 MB (random bytes)"),
    "B": CorpusSpec("B", "corpus-B", 20_000, 4_000, 20, "20,000 files of 4 KB in 20 folders"),
    "C": CorpusSpec("C", "corpus-C", 1, 5_000 * MB, 0, "one file of 5 GB"),
    "D": CorpusSpec(
        "D", "corpus-D", 100_000, 4_000, 100, "100,000 files of 4 KB in 100 folders (one package)"
    ),
}

# --tiny: the same shapes, small enough for the test suite to run the whole script in seconds
TINY: dict[str, CorpusSpec] = {
    "A": CorpusSpec("A", "tiny-A", 3, 1 * MB, 0, "3 files of 1 MB (tiny)"),
    "B": CorpusSpec("B", "tiny-B", 200, 4_000, 20, "200 files of 4 KB in 20 folders (tiny)"),
    "C": CorpusSpec("C", "tiny-C", 1, 8 * MB, 0, "one file of 8 MB (tiny)"),
    "D": CorpusSpec("D", "tiny-D", 500, 4_000, 10, "500 files of 4 KB in 10 folders (tiny)"),
}


def _marker(root: Path, spec: CorpusSpec) -> Path:
    return root / f"{spec.name}.json"


def corpus_files(path: Path) -> list[Path]:
    """Every regular file under ``path``, sorted."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        out.extend(Path(dirpath, f) for f in sorted(filenames))
    return out


def is_complete(root: Path, spec: CorpusSpec) -> bool:
    """True when the corpus exists with exactly the files and sizes of ``spec``."""
    marker = _marker(root, spec)
    path = root / spec.name
    try:
        if json.loads(marker.read_text(encoding="utf-8")) != asdict(spec):
            return False
    except (OSError, ValueError):
        return False
    expected = set(spec.relative_paths())
    found = 0
    for f in corpus_files(path):
        rel = f.relative_to(path).as_posix()
        if rel not in expected or f.stat().st_size != spec.file_size:
            return False
        found += 1
    return found == spec.files


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, CHUNK)
            f.write(os.urandom(n))
            left -= n


def ensure_corpus(root: Path, spec: CorpusSpec) -> tuple[Path, bool]:
    """The corpus folder of ``spec`` under ``root``, generated unless it is already complete.

    Returns (path, generated)."""
    path = root / spec.name
    if is_complete(root, spec):
        return path, False
    marker = _marker(root, spec)
    marker.unlink(missing_ok=True)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    for rel in spec.relative_paths():
        target = path / rel
        target.parent.mkdir(exist_ok=True)
        _write_random(target, spec.file_size)
    marker.write_text(json.dumps(asdict(spec), indent=2) + "\n", encoding="utf-8")
    return path, True
