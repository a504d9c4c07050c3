"""Strict BagIt validation (RFC 8493, and bags from 0.93 on), reporting every problem at once.

A bag is valid only when it is complete and every checksum of every payload and tag manifest was
verified. Nothing stops early: a wrong Payload-Oxum is reported and hashing still names the
corrupt file. Validation never downloads anything listed in ``fetch.txt``.

Safety: the validator opens only files it found by walking the bag itself (``lstat``, no links
followed while walking), never a path read from a manifest or ``fetch.txt``; the one exception is
the file a caller's ``resolve_fetch`` returns for a ``fetch.txt`` entry (a stored package version
whose unchanged files an earlier version holds, see :mod:`preserve.bagit.fetch`). Manifest names are
matched to those files, after Unicode normalisation (NFC) when the exact spelling is absent, and
the real on-disk name is what gets opened. A symbolic link is followed only when both its text and
its resolved target stay inside the bag (``os.path.commonpath``, component-wise).

Problem codes (``E`` error, ``W`` warning, ``E/W`` error in 1.0 and warning in older bags):

Structure and declaration
  ``bag-not-found`` E           the path is not a folder
  ``bagit-txt-missing`` E       no ``bagit.txt``
  ``bagit-txt-bom`` E           ``bagit.txt`` starts with a byte-order mark
  ``bagit-txt-invalid`` E/W     not exactly the two lines ``BagIt-Version: M.N`` and
                                ``Tag-File-Character-Encoding: ENC`` (whitespace variants are
                                a warning before 1.0)
  ``version-invalid`` E         BagIt-Version is not ``M.N``
  ``version-unsupported`` E     a version outside 0.93 to 1.0
  ``encoding-unsupported`` E    the tag file encoding is unknown
  ``payload-dir-missing`` E     no ``data/`` folder
  ``manifest-missing`` E        no payload manifest
  ``unsupported-algorithm`` E   a (tag) manifest whose algorithm cannot be computed here: the bag
                                cannot be validated (never silently ignored)
  ``weak-algorithm`` W          only MD5/SHA-1 payload manifests
Tag files
  ``tag-file-undecodable`` E    a tag file does not decode with the declared encoding
  ``tag-file-bom`` E/W          a UTF-8 tag file starts with a byte-order mark
  ``bag-info-invalid`` E        a bag-info line that is not ``Label: value`` (1.0: no whitespace
                                around the label, one space or tab after the colon); a warning
                                for blank lines
  ``payload-oxum-repeated`` E/W Payload-Oxum given more than once
  ``payload-oxum-invalid`` E    Payload-Oxum is not ``OctetCount.StreamCount``
  ``payload-oxum-mismatch`` E   Payload-Oxum disagrees with the payload on disk
Manifests
  ``manifest-line-invalid`` E   a line that is not ``checksum path`` with a hex checksum
  ``md5sum-style`` W            ``*path``, ``./path`` or ``\\``-escaped lines (accepted, §6.1.3)
  ``percent-not-encoded`` W     a 1.0 manifest, tag manifest or fetch.txt path with a ``%`` that is
                                not ``%25``, ``%0A`` or ``%0D``: §2.1.3 says MUST encode, but
                                bagit-python and most tools write it raw and it can only mean a
                                literal ``%``, so it is read as one and the bag stays valid
  ``unsafe-path`` E             a manifest/fetch path that could leave the bag (absolute, ``..``,
                                ``~``, backslash, drive letter, NUL, ``%VAR%``, empty or ``.``
                                segment), or a symbolic link whose target leaves the bag; such a
                                path is never opened
  ``manifest-path-not-payload`` E  a payload manifest path outside ``data/``
  ``duplicate-entry`` E/W       a path listed twice in one manifest (always an error when the
                                checksums differ)
  ``normalization-duplicate`` W two manifest paths that differ only by Unicode normalisation
  ``normalization-mismatch`` W  a manifest path matched to a file whose name differs only by
                                normalisation (the real name is opened)
  ``file-missing`` E            a payload manifest lists a file the bag does not have
  ``file-not-in-manifest`` E    a payload file missing from the payload manifests (1.0: from any)
  ``checksum-mismatch`` E       a payload or tag file whose checksum differs from its manifest's
  ``file-unreadable`` E         a file or folder that cannot be read
  ``special-file`` E            a FIFO, socket or device in the bag (never opened)
Tag manifests
  ``tag-manifest-lists-payload`` E  a tag manifest lists a ``data/`` path
  ``tag-manifest-lists-tag-manifest`` E/W  a tag manifest lists a tag manifest
  ``tag-manifest-incomplete`` E/W  a tag manifest does not list every payload manifest
  ``tag-file-missing`` E        a tag manifest lists a file the bag does not have
  ``tag-file-not-in-tag-manifest`` W  a tag file no tag manifest lists
  ``tag-manifests-differ`` W    tag manifests list different files
fetch.txt
  ``fetch-txt-present`` W       the bag has a ``fetch.txt`` (never fetched here)
  ``fetch-line-invalid`` E      a line that is not ``url length path`` with an absolute URL
  ``fetch-path-not-payload`` E  a fetch path outside ``data/``
  ``fetch-not-in-manifest`` E   a fetch path missing from a payload manifest
  ``fetch-unfetched`` E         a file listed in fetch.txt is absent: the bag is incomplete
  ``fetch-unresolved`` E        (``resolve_fetch`` given) the caller refused to resolve an entry
                                (it names no file of an earlier version of the package)
  ``fetch-length-mismatch`` E   (``resolve_fetch`` given) the file an entry resolves to is not
                                as long as fetch.txt says
Names
  ``normalization-collision`` W two files whose names are equal after NFC
  ``case-collision`` W          names that differ only by case
  ``system-file`` W             OS junk (.DS_Store, Thumbs.db, desktop.ini ...)
  ``windows-reserved-name`` W, ``windows-incompatible-name`` W
  ``symlink`` W                 a symbolic link inside the bag that stays inside it
  ``empty-directory`` W         an empty folder in the payload (BagIt cannot record it)
"""

from __future__ import annotations

import logging
import os
import re
import stat
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from preserve.bagit.manifest import (
    MANIFEST_NAME,
    TAGMANIFEST_NAME,
    ParsedManifest,
    parse_manifest,
    percent_message,
)
from preserve.bagit.paths import (
    NameIndex,
    check_payload_names,
    decode_manifest_path,
    normal_form,
    printable,
    safe_text,
    unencoded_percent,
    unsafe_reason,
)
from preserve.bagit.taginfo import decode_tag_text, parse_bag_info, parse_bagit_txt, split_lines
from preserve.checksums import CHUNK_SIZE, MultiHasher, bagit_token, is_supported
from preserve.errors import InvalidBag
from preserve.text import plural
from preserve.values import Problem, ValidationReport

__all__ = ["BagContents", "read_bag", "validate_bag"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_WEAK = frozenset({"md5", "sha1"})
_OXUM = re.compile(r"(\d+)\.(\d+)")
_FETCH_LINE = re.compile(r"([^ \t]+)[ \t]+([^ \t]+)[ \t]+(.+)")
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)

#: Given a fetch.txt entry's URL and payload path, the local file that holds it; raises
#: ValueError (e.g. :class:`preserve.bagit.fetch.FetchRefused`) saying why it will not.
FetchResolver = Callable[[str, str], str | os.PathLike[str]]


@dataclass(frozen=True)
class BagContents:
    """A parsed bag: its declaration, bag-info (order kept) and payload manifests."""

    version: tuple[int, int]
    encoding: str
    bag_info: tuple[tuple[str, str], ...]
    payload: dict[str, dict[str, str]]  # decoded manifest path ("data/...") -> {alg: hex}
    real_names: dict[str, str]  # manifest path -> the actual on-disk relative path


@dataclass(frozen=True, slots=True)
class _File:
    open_path: str  # what to open: the file itself, or the in-bag target of a symbolic link
    size: int


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives, or mixing absolute and relative
        return False


def _read_file(f: _File) -> bytes:
    fd = os.open(f.open_path, _O_FLAGS)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{f.open_path}: not a regular file")
        return fh.read()


def _hash_file(f: _File, algorithms: Iterable[str]) -> dict[str, str]:
    """Digests of one file, read once in 1 MiB chunks; opened without following links."""
    hasher = MultiHasher(algorithms)
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    fd = os.open(f.open_path, _O_FLAGS)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{f.open_path}: not a regular file")
        while n := fh.readinto(buf):
            hasher.update(view[:n])
    return hasher.hexdigests()


def _ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map`` over a thread pool with at most a few tasks per worker in flight, order kept."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bagit-hash") as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers * 4:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _Check:
    """One validation run; collects every problem found."""

    def __init__(self, root: Path, resolve_fetch: FetchResolver | None = None) -> None:
        self.root = root
        self.resolve_fetch = resolve_fetch
        self.unresolved: set[str] = set()
        self.root_abs = os.path.abspath(root)
        self.root_real = os.path.realpath(root)
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self._seen: set[Problem] = set()
        self.tag: dict[str, _File] = {}
        self.payload: dict[str, _File] = {}
        self.unsafe_links: set[str] = set()
        self.has_data_dir = False
        self.version: tuple[int, int] | None = None
        self.encoding = "UTF-8"
        self.bag_info: list[tuple[str, str]] = []
        self.oxum: tuple[int, int] | None = None
        self.manifests: list[ParsedManifest] = []
        self.tagmanifests: list[ParsedManifest] = []
        self.supported: dict[str, bool] = {}
        self.fetch: dict[str, str] = {}  # decoded fetch path -> URL
        self.fetch_lengths: dict[str, int | None] = {}
        self.real_names: dict[str, str] = {}
        self.jobs: dict[
            str, list[tuple[str, str, str, str]]
        ] = {}  # disk -> (alg, hex, path, manifest)
        self._nfc_index: dict[int, dict[str, list[str]]] = {}

    # ------------------------------------------------------------------ reporting

    @property
    def rules(self) -> tuple[int, int]:
        """The version whose rules apply: the declared one, or 1.0 (strictest) when unknown."""
        return self.version or (1, 0)

    @property
    def strict(self) -> bool:
        return self.rules >= (1, 0)

    def error(self, code: str, path: str, message: str) -> None:
        self._add(Problem(code, safe_text(path), message))

    def warn(self, code: str, path: str, message: str) -> None:
        self._add(Problem(code, safe_text(path), message, "warning"))

    def strict_error(self, code: str, path: str, message: str) -> None:
        """An error under BagIt 1.0 rules, a warning for older bags."""
        (self.error if self.strict else self.warn)(code, path, message)

    def _add(self, problem: Problem) -> None:
        if problem not in self._seen:
            self._seen.add(problem)
            (self.errors if problem.severity == "error" else self.warnings).append(problem)

    def extend(self, errors: Iterable[Problem], warnings: Iterable[Problem]) -> None:
        for p in (*errors, *warnings):
            self._add(p)

    # ------------------------------------------------------------------ walking

    def _link_target(self, path: str) -> str | None:
        """The in-bag real path a symbolic link points to, or None if it leaves the bag."""
        try:
            text = os.readlink(path)
        except OSError:
            return None
        lexical = os.path.normpath(os.path.join(os.path.dirname(path), text))
        if not _within(lexical, self.root_abs):
            return None  # decided without touching anything outside the bag
        real = os.path.realpath(path)
        return real if _within(real, self.root_real) else None

    def walk(self) -> None:
        """Every file of the bag, found with lstat (links are never followed while walking)."""
        stack: list[tuple[str, str]] = [(self.root_abs, "")]
        while stack:
            folder, rel = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name, reverse=True)
            except OSError as exc:
                self.error(
                    "file-unreadable",
                    rel.rstrip("/") or ".",
                    f"folder cannot be read: {exc.strerror or exc}",
                )
                continue
            if not entries and rel.startswith("data/") and rel != "data/":
                self.warn(
                    "empty-directory",
                    rel[:-1],
                    "empty folder in the payload (BagIt cannot record it)",
                )
            for entry in entries:
                relpath = rel + entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    self.error("file-unreadable", relpath, f"cannot be read: {exc.strerror or exc}")
                    continue
                mode = st.st_mode
                if stat.S_ISLNK(mode):
                    self._symlink(entry.path, relpath)
                elif stat.S_ISDIR(mode):
                    if relpath == "data":
                        self.has_data_dir = True
                    stack.append((entry.path, relpath + "/"))
                elif stat.S_ISREG(mode):
                    self._record(relpath, _File(entry.path, st.st_size))
                else:
                    self.error(
                        "special-file",
                        relpath,
                        "not a regular file (FIFO, socket or device); never opened",
                    )

    def _symlink(self, path: str, relpath: str) -> None:
        target = self._link_target(path)
        if target is None:
            self.unsafe_links.add(relpath)
            self.error(
                "unsafe-path",
                relpath,
                "symbolic link pointing outside the bag (or unreadable); not followed",
            )
            return
        try:
            st = os.stat(target)
        except OSError:
            self.warn("symlink", relpath, "broken symbolic link inside the bag")
            return
        if stat.S_ISREG(st.st_mode):
            self.warn("symlink", relpath, "symbolic link inside the bag: its target is validated")
            self._record(relpath, _File(target, st.st_size))
        elif stat.S_ISDIR(st.st_mode):
            self.warn("symlink", relpath, "symbolic link to a folder inside the bag: not followed")
        else:
            self.error(
                "special-file", relpath, "symbolic link to a FIFO, socket or device; never opened"
            )

    def _record(self, relpath: str, f: _File) -> None:
        if relpath.startswith("data/"):
            self.payload[relpath] = f
        elif relpath != "data":
            self.tag[relpath] = f

    def resolve(self, path: str, table: dict[str, _File]) -> str | None:
        """The on-disk name for a manifest path: exact, else the one file equal after NFC."""
        if path in table:
            return path
        index = self._nfc_index.get(id(table))
        if index is None:
            index = {}
            for name in table:
                index.setdefault(unicodedata.normalize("NFC", name), []).append(name)
            self._nfc_index[id(table)] = index
        candidates = index.get(unicodedata.normalize("NFC", path), [])
        return candidates[0] if len(candidates) == 1 else None

    def under_unsafe_link(self, path: str) -> bool:
        parts = path.split("/")
        return any("/".join(parts[:i]) in self.unsafe_links for i in range(1, len(parts) + 1))

    # ------------------------------------------------------------------ tag files

    def read_text(self, name: str) -> str | None:
        f = self.tag[name]
        try:
            data = _read_file(f)
        except OSError as exc:
            self.error("file-unreadable", name, f"cannot be read: {exc.strerror or exc}")
            return None
        try:
            text, bom = decode_tag_text(data, self.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            self.error("tag-file-undecodable", name, f"does not decode as {self.encoding}: {exc}")
            return None
        if bom:
            self.strict_error(
                "tag-file-bom", name, "a UTF-8 tag file must not begin with a byte-order mark"
            )
        return text

    def read_declaration(self) -> None:
        if "bagit.txt" not in self.tag:
            self.error("bagit-txt-missing", "bagit.txt", "no bagit.txt: this is not a bag")
            return
        try:
            data = _read_file(self.tag["bagit.txt"])
        except OSError as exc:
            self.error("file-unreadable", "bagit.txt", f"cannot be read: {exc.strerror or exc}")
            return
        declaration = parse_bagit_txt(data)
        self.extend(declaration.errors, declaration.warnings)
        self.version = declaration.version
        if declaration.encoding is not None:
            self.encoding = declaration.encoding

    def read_bag_info(self) -> None:
        name = "package-info.txt" if self.rules <= (0, 95) else "bag-info.txt"
        if name not in self.tag:
            return
        text = self.read_text(name)
        if text is None:
            return
        elements, errors, warnings = parse_bag_info(text, self.rules, name)
        self.extend(errors, warnings)
        self.bag_info = elements
        oxums = [value for label, value in elements if label.lower() == "payload-oxum"]
        if len(oxums) > 1:
            self.strict_error(
                "payload-oxum-repeated",
                name,
                f"Payload-Oxum appears {len(oxums)} times (it must not repeat)",
            )
        if oxums:
            m = _OXUM.fullmatch(oxums[0].strip())
            if m is None:
                self.error(
                    "payload-oxum-invalid",
                    name,
                    f"Payload-Oxum {oxums[0]!r} is not OctetCount.StreamCount",
                )
            else:
                self.oxum = (int(m.group(1)), int(m.group(2)))

    def read_manifests(self) -> None:
        for name in sorted(n for n in self.tag if "/" not in n):
            m = MANIFEST_NAME.fullmatch(name) or TAGMANIFEST_NAME.fullmatch(name)
            if m is None:
                continue
            tag = name.startswith("tag")
            algorithm = bagit_token(m.group(1))
            supported = bool(algorithm) and is_supported(algorithm)
            if not supported:
                self.error(
                    "unsupported-algorithm",
                    name,
                    f"checksum algorithm {m.group(1)!r} is not supported: the bag cannot be "
                    "validated",
                )
            text = self.read_text(name)
            parsed = (
                ParsedManifest(name, algorithm)
                if text is None
                else parse_manifest(
                    text, name=name, algorithm=algorithm, version=self.rules, tag=tag
                )
            )
            self.extend(parsed.errors, parsed.warnings)
            self.supported[name] = supported
            (self.tagmanifests if tag else self.manifests).append(parsed)
        if not self.manifests:
            self.error("manifest-missing", "", "no payload manifest (manifest-<algorithm>.txt)")
        elif all(m.algorithm in _WEAK for m in self.manifests):
            self.warn(
                "weak-algorithm", "", "only MD5/SHA-1 payload manifests: add SHA-256 or SHA-512"
            )

    def read_fetch(self) -> None:
        if "fetch.txt" not in self.tag:
            return
        if self.resolve_fetch is None:
            self.warn(
                "fetch-txt-present",
                "fetch.txt",
                "the bag has a fetch.txt; validation never downloads",
            )
        text = self.read_text("fetch.txt")
        if text is None:
            return
        for number, line in enumerate(split_lines(text), 1):
            if not line.strip():
                continue
            m = _FETCH_LINE.fullmatch(line)
            if m is None:
                self.error(
                    "fetch-line-invalid", "fetch.txt", f"line {number} is not 'url length path'"
                )
                continue
            url, length, raw = m.groups()
            path = decode_manifest_path(raw, self.rules)
            reason = unsafe_reason(path)
            if reason is not None:
                self.error(
                    "unsafe-path",
                    path,
                    f"fetch.txt line {number}: unsafe path '{printable(path)}' ({reason})",
                )
                continue
            parts = urlsplit(url)
            if (
                not parts.scheme
                or not (parts.netloc or parts.path)
                or not (length == "-" or length.isdigit())
            ):
                self.error(
                    "fetch-line-invalid",
                    path,
                    f"fetch.txt line {number}: {url!r} {length!r} is not 'absolute-URL length'",
                )
            if not path.startswith("data/"):
                self.error(
                    "fetch-path-not-payload",
                    path,
                    f"fetch.txt line {number}: only payload files may be fetched",
                )
                continue
            self.fetch[path] = url
            self.fetch_lengths[path] = int(length) if length.isdigit() else None
            if self.strict and unencoded_percent(raw):
                self.warn(
                    "percent-not-encoded",
                    path,
                    percent_message(f"fetch.txt line {number}", raw, path),
                )

    def resolve_fetched(self) -> None:
        """With ``resolve_fetch``: each fetch.txt entry absent from the bag is read from the
        file the caller resolves it to, as if it were in ``data/``."""
        if self.resolve_fetch is None or not self.fetch:
            return
        added = False
        for path, url in self.fetch.items():
            if self.resolve(path, self.payload) is not None:
                continue  # in the bag as well: the bag's own file is validated
            try:
                target = os.fspath(self.resolve_fetch(url, path))
                st = os.stat(target, follow_symlinks=False)
            except ValueError as exc:
                self.unresolved.add(path)
                self.error("fetch-unresolved", path, f"fetch.txt entry not resolved: {exc}")
                continue
            except OSError as exc:
                self.unresolved.add(path)
                self.error(
                    "fetch-unresolved",
                    path,
                    f"fetch.txt entry {url} cannot be read where it resolves to: "
                    f"{exc.strerror or exc}",
                )
                continue
            if not stat.S_ISREG(st.st_mode):
                self.unresolved.add(path)
                self.error(
                    "fetch-unresolved", path, f"fetch.txt entry {url} resolves to no regular file"
                )
                continue
            length = self.fetch_lengths.get(path)
            if length is not None and length != st.st_size:
                self.error(
                    "fetch-length-mismatch",
                    path,
                    f"fetch.txt gives {length} bytes; {url} holds {st.st_size}",
                )
            self.payload[path] = _File(target, st.st_size)
            added = True
        if added:
            self._nfc_index.pop(id(self.payload), None)

    # ------------------------------------------------------------------ completeness

    def check_payload(self) -> None:
        # a stored version whose payload an earlier version holds has no data/ folder: object
        # storage keeps no empty folders
        if not self.has_data_dir and not (self.resolve_fetch is not None and self.fetch):
            self.error("payload-dir-missing", "data", "no data/ payload folder")
        listed_by: dict[str, set[str]] = {}
        missing: dict[str, list[str]] = {}
        for manifest in self.manifests:
            for path, digest in manifest.entries.items():
                disk = self.resolve(path, self.payload)
                if disk is None:
                    if not self.under_unsafe_link(path):
                        missing.setdefault(path, []).append(manifest.name)
                    continue
                if disk != path:
                    self.warn(
                        "normalization-mismatch",
                        path,
                        f"listed as '{printable(path)}' ({normal_form(path)}) but stored as "
                        f"'{printable(disk)}' ({normal_form(disk)}); the stored file is validated",
                    )
                self.real_names[path] = disk
                listed_by.setdefault(disk, set()).add(manifest.name)
                if self.supported[manifest.name]:
                    self.jobs.setdefault(disk, []).append(
                        (manifest.algorithm, digest, path, manifest.name)
                    )
        for path, names in missing.items():
            if path in self.unresolved:
                continue  # reported as fetch-unresolved
            if path in self.fetch:
                self.error(
                    "fetch-unfetched",
                    path,
                    "listed in fetch.txt and not fetched: the bag is incomplete",
                )
            else:
                self.error("file-missing", path, f"listed in {', '.join(names)} but not in the bag")
        all_names = {m.name for m in self.manifests}
        for disk in sorted(self.payload):
            have = listed_by.get(disk)
            if not have:
                self.error(
                    "file-not-in-manifest", disk, "payload file listed in no payload manifest"
                )
            elif self.strict and have != all_names:
                self.error(
                    "file-not-in-manifest",
                    disk,
                    f"payload file missing from {', '.join(sorted(all_names - have))} "
                    "(BagIt 1.0: every payload file in every payload manifest)",
                )
        for path in self.fetch:
            absent = [m.name for m in self.manifests if path not in m.entries]
            if absent:
                self.error(
                    "fetch-not-in-manifest", path, f"in fetch.txt but not in {', '.join(absent)}"
                )

    def check_oxum(self) -> None:
        if self.oxum is None or any(
            p.code in ("fetch-unfetched", "fetch-unresolved") for p in self.errors
        ):
            return
        octets = sum(f.size for f in self.payload.values())
        streams = len(self.payload)
        if self.oxum != (octets, streams):
            self.error(
                "payload-oxum-mismatch",
                "package-info.txt" if self.rules <= (0, 95) else "bag-info.txt",
                f"Payload-Oxum says {self.oxum[0]} bytes in {self.oxum[1]} files; the payload has "
                f"{octets} bytes in {streams} files",
            )

    def check_tag_manifests(self) -> None:
        payload_manifests = {m.name for m in self.manifests}
        listed_sets: list[set[str]] = []
        for manifest in self.tagmanifests:
            listed: set[str] = set()
            for path, digest in manifest.entries.items():
                disk = self.resolve(path, self.tag)
                if disk is None:
                    if not self.under_unsafe_link(path):
                        self.error(
                            "tag-file-missing",
                            path,
                            f"listed in {manifest.name} but not in the bag",
                        )
                    continue
                listed.add(disk)
                if self.supported[manifest.name]:
                    self.jobs.setdefault(disk, []).append(
                        (manifest.algorithm, digest, path, manifest.name)
                    )
            absent = sorted(payload_manifests - listed)
            if absent:
                self.strict_error(
                    "tag-manifest-incomplete",
                    manifest.name,
                    f"does not list the payload manifest(s) {', '.join(absent)}",
                )
            listed_sets.append(listed)
        if not self.tagmanifests:
            return
        if any(s != listed_sets[0] for s in listed_sets):
            self.warn(
                "tag-manifests-differ", "", "the tag manifests do not list the same tag files"
            )
        everything = set().union(*listed_sets)
        for name in sorted(self.tag):
            if name not in everything and not TAGMANIFEST_NAME.fullmatch(name):
                self.warn(
                    "tag-file-not-in-tag-manifest", name, "tag file listed in no tag manifest"
                )

    def check_names(self) -> None:
        errors, warnings = check_payload_names(sorted(self.payload))
        for p in (
            errors
        ):  # two real files: the bag is RFC-valid, but it cannot survive macOS or S3 tools
            self.warn(p.code, p.path, p.message)
        self.extend((), warnings)
        index = NameIndex()
        for manifest in self.manifests:
            for path in manifest.entries:
                _, found = index.add(path)
                self.extend((), (p for p in found if p.code == "case-collision"))

    # ------------------------------------------------------------------ fixity

    def _file(self, disk: str) -> _File:
        return self.payload.get(disk) or self.tag[disk]

    def verify(self, processes: int) -> None:
        def work(
            item: tuple[str, list[tuple[str, str, str, str]]],
        ) -> tuple[str, list, dict | None, str]:
            disk, checks = item
            try:
                return disk, checks, _hash_file(self._file(disk), {c[0] for c in checks}), ""
            except OSError as exc:
                return disk, checks, None, str(exc.strerror or exc)

        for disk, checks, digests, failure in _ordered_map(
            work, sorted(self.jobs.items()), processes
        ):
            if digests is None:
                self.error("file-unreadable", disk, f"cannot be read: {failure}")
                continue
            for algorithm, expected, path, manifest in checks:
                actual = digests[algorithm]
                if actual != expected:
                    self.error(
                        "checksum-mismatch",
                        path,
                        f"{algorithm} checksum in {manifest} is {expected}, the file's is {actual}",
                    )

    # ------------------------------------------------------------------ driver

    def run(self, *, fixity: bool, processes: int) -> None:
        if not os.path.isdir(self.root):
            self.error("bag-not-found", str(self.root), "no such folder")
            return
        self.walk()
        self.read_declaration()
        self.read_bag_info()
        self.read_manifests()
        self.read_fetch()
        self.resolve_fetched()
        self.check_payload()
        self.check_oxum()
        self.check_tag_manifests()
        self.check_names()
        if fixity:
            self.verify(processes)

    def report(self) -> ValidationReport:
        return ValidationReport(
            path=str(self.root),
            version=f"{self.version[0]}.{self.version[1]}" if self.version else None,
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
            algorithms=tuple(m.algorithm for m in self.manifests),
            payload_files=len(self.payload),
            payload_bytes=sum(f.size for f in self.payload.values()),
        )


def validate_bag(
    path: Path,
    *,
    completeness_only: bool = False,
    processes: int = 1,
    resolve_fetch: FetchResolver | None = None,
) -> ValidationReport:
    """Validate the bag at ``path``; every problem is reported, errors apart from warnings.

    ``completeness_only`` skips the checksums: the report then says nothing about validity.
    ``processes`` > 1 hashes in a thread pool of that size (hashlib releases the GIL).

    A bag with a ``fetch.txt`` is incomplete (RFC 8493 §3) and nothing is ever downloaded.
    ``resolve_fetch`` (for a package version as stored, whose unchanged files an earlier version
    holds: :func:`preserve.bagit.fetch.local_resolver`) turns an entry's URL and path into the
    local file that holds it; those files are then validated as part of the payload (size,
    Payload-Oxum, every manifest's checksum). The default refuses fetch.txt, as ingest must.
    """
    if processes < 1:
        raise ValueError("processes must be at least 1")
    check = _Check(Path(path), resolve_fetch)
    check.run(fixity=not completeness_only, processes=processes)
    report = check.report()
    log.info(
        "bag %s: %s (%s, %s)",
        path,
        "complete"
        if completeness_only and report.valid
        else "valid"
        if report.valid
        else "INVALID",
        plural(len(report.errors), "error"),
        plural(len(report.warnings), "warning"),
    )
    return report


def read_bag(path: Path) -> BagContents:
    """Parse an (already validated) bag: declaration, bag-info in order and payload manifests.

    Structure and completeness are checked again (no checksums); InvalidBag lists every error.
    """
    check = _Check(Path(path))
    check.run(fixity=False, processes=1)
    if check.errors:
        raise InvalidBag(
            f"{path}: not a complete bag ({plural(len(check.errors), 'problem')})", check.errors
        )
    assert check.version is not None  # no errors means bagit.txt was read
    payload: dict[str, dict[str, str]] = {}
    for manifest in check.manifests:
        for entry, digest in manifest.entries.items():
            payload.setdefault(entry, {})[manifest.algorithm] = digest
    return BagContents(
        version=check.version,
        encoding=check.encoding,
        bag_info=tuple(check.bag_info),
        payload=payload,
        real_names=dict(check.real_names),
    )
