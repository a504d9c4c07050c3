"""``fetch.txt`` (RFC 8493 §2.2.3) of a stored package version, and where its entries point.

A later version of a package stores only the payload files no earlier version holds; the others
are listed in its ``fetch.txt`` as ``URL LENGTH data/<path>``, where URL is the object's
absolute URL on the first location of the package at the time, e.g.
``s3://bucket/prefix/<org>/<coll>/<package>/v1/data/a.tif`` or
``file:///srv/preserve/<org>/<coll>/<package>/v1/data/a.tif`` (percent-encoded). The key layout
below a location's root is the same on every location, so our own tools resolve an entry on
whichever location they read, never over the network: the part of the URL from the package's
folder on, ``<org>/<coll>/<package>/v<M>/data/...``, must name a payload file of an earlier
version (M < N) of the same package. Anything else is refused (:class:`FetchRefused`).

Standard library only: fixity imports this without the rest of :mod:`preserve.bagit`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = [
    "FetchEntry",
    "FetchRefused",
    "local_resolver",
    "parse_fetch",
    "stored_object",
]

#: ``url length path``: separated by spaces or tabs; the path may hold spaces
_LINE = re.compile(r"([^ \t]+)[ \t]+([^ \t]+)[ \t]+(.+)")
_DECODE = re.compile(r"%(0[AaDd]|25)")
_VERSION_PATH = re.compile(r"v([1-9][0-9]*)/(data/.+)")
#: the schemes of the locations preserve writes to
SCHEMES = ("file", "s3")


class FetchRefused(ValueError):
    """A ``fetch.txt`` entry that does not name a payload file of an earlier version of the
    same package; the message says why."""


@dataclass(frozen=True)
class FetchEntry:
    """One line of ``fetch.txt``: the URL, the length (None for ``-``) and the payload path
    (decoded: ``%25``, ``%0A`` and ``%0D`` as the characters they stand for)."""

    url: str
    length: int | None
    path: str
    line: int


def parse_fetch(text: str) -> tuple[list[FetchEntry], list[str]]:
    """The entries of a BagIt 1.0 ``fetch.txt`` and, apart, the lines that are not
    ``url length path`` (one message each, naming the line)."""
    entries: list[FetchEntry] = []
    errors: list[str] = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if not line.strip():
            continue
        m = _LINE.fullmatch(line)
        if m is None or not (m.group(2) == "-" or m.group(2).isdigit()):
            errors.append(f"fetch.txt line {number} is not 'url length path'")
            continue
        url, length, raw = m.groups()
        path = _DECODE.sub(lambda d: chr(int(d.group(1), 16)), raw)
        entries.append(FetchEntry(url, None if length == "-" else int(length), path, number))
    return entries, errors


def stored_object(url: str, package_folder: str, version: int) -> tuple[int, str]:
    """The version M and the payload path in M's bag (``data/...``) that ``url``, an entry of
    version ``version``'s ``fetch.txt``, names: the part of the URL from ``package_folder``
    (``<org>/<coll>/<package>/``) on must be ``v<M>/data/<path>`` with M < ``version``.

    :class:`FetchRefused` for anything else: another scheme than ``file`` or ``s3``, a query
    or fragment, another package, a tag file, the same or a later version, an unsafe path."""
    folder = package_folder.strip("/") + "/"
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise FetchRefused(f"{url}: not a file:// or s3:// URL of a storage location")
    if parts.query or parts.fragment:
        raise FetchRefused(f"{url}: a storage URL has no query or fragment")
    # s3://bucket/key: the bucket is the netloc; file:///root/key: no netloc
    full = unquote(parts.netloc + parts.path, errors="strict")
    start = full.find("/" + folder)
    if start < 0:
        raise FetchRefused(f"{url}: does not name a file of this package ({folder})")
    rest = full[start + 1 + len(folder) :]
    m = _VERSION_PATH.fullmatch(rest)
    if m is None:
        raise FetchRefused(f"{url}: does not name a payload file (v<N>/data/...) of the package")
    number, path = int(m.group(1)), m.group(2)
    if number >= version:
        raise FetchRefused(f"{url}: names version {number}, not an earlier version than {version}")
    reason = _unsafe(path)
    if reason is not None:
        raise FetchRefused(f"{url}: unsafe path ({reason})")
    return number, path


def _unsafe(path: str) -> str | None:
    """Why ``path`` is not a safe relative path (:func:`preserve.bagit.paths.unsafe_reason`,
    imported only when a path is checked)."""
    from preserve.bagit.paths import unsafe_reason

    return unsafe_reason(path)


def local_resolver(
    root: Path | str, package_folder: str, version: int
) -> Callable[[str, str], Path]:
    """A ``resolve_fetch`` for :func:`preserve.bagit.validate_bag` that validates version
    ``version`` of a package as stored on a local location whose root folder is ``root``: each
    fetch entry is read from the earlier version's folder under ``root`` (never fetched)."""
    base = Path(root) / package_folder.strip("/")

    def resolve(url: str, path: str) -> Path:
        number, stored = stored_object(url, package_folder, version)
        return base / f"v{number}" / stored

    return resolve


def version_folder_resolver(folder: Path | str) -> Callable[[str, str], Path]:
    """:func:`local_resolver` for a stored version folder given by its path,
    ``<location root>/<organisation>/<collection>/<package>/v<N>``."""
    import re

    from preserve.errors import InvalidInput

    given = Path(folder)
    resolved = given.resolve()
    match = re.fullmatch(r"v([1-9][0-9]*)", resolved.name)
    if match is None or len(resolved.parts) < 5:
        raise InvalidInput(
            f"{given}: not a package version folder "
            "(<location>/<organisation>/<collection>/<package>/v<N>)"
        )
    package_folder = "/".join(resolved.parts[-4:-1]) + "/"
    return local_resolver(resolved.parents[3], package_folder, int(match[1]))
