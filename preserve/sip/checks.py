"""What a SIP promises, checked: its structure rules, every file reference of its METS files,
the sizes and checksums they list, and the fixity values of its PREMIS files.

Every problem is collected, not only the first, each naming its file and the rule it breaks
(the E-ARK CSIP rule id where there is one: CSIPSTR4 a missing METS file, CSIPSTR11 a
representation without ``data/``, CSIP79/CSIP24/CSIP110 a reference to a file that is not
there, CSIP69 a wrong size, CSIP71 a wrong checksum; ``premis-fixity`` a PREMIS fixity
mismatch; ``meemoo-structure`` what the meemoo SIP requires beyond CSIP).

Checksums are not computed here: :func:`check_delivery` lists what is promised
(:class:`Promised`), and the ingest verifies it against the digests its single staging read
computes (:meth:`SipCheck.verify`). :func:`validate_sip` reads each file once itself.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preserve.checksums import bagit_token, hash_file, is_supported
from preserve.errors import InvalidBag
from preserve.sip.descriptive import main_title_first, read_description
from preserve.sip.detect import MEEMOO_SIP, Detected, detect
from preserve.sip.mets import HREF_RULE, POINTER, Mets, is_mets, mets_from, resolve_href
from preserve.sip.premis import Fixity, fixities, is_premis
from preserve.sip.xmlsafe import XmlProblem, local, namespace, parse
from preserve.text import plural
from preserve.values import Problem

#: how many problems the one-line message of :class:`InvalidSip` spells out
SHOWN_PROBLEMS = 20
#: how many unmatched PREMIS names or unlisted files a warning names
NAMED = 5


class InvalidSip(InvalidBag):
    """A SIP breaks its own rules; ``problems`` lists every one found, each naming its file."""

    code = "invalid-sip"


@dataclass(frozen=True)
class Promised:
    """A checksum the producer gives for a file of the delivery."""

    path: str  # relative to the SIP root (the delivery's payload path)
    algorithm: str  # BagIt token: md5, sha256 ...
    digest: str  # lower-case hex
    where: str  # the METS or PREMIS file that gives it, relative to the SIP root
    rule: str  # CSIP71 (METS @CHECKSUM), CSIP24 (mdRef @CHECKSUM) or premis-fixity


@dataclass
class SipCheck:
    """A SIP checked: problems and warnings, what it promises, and its description."""

    detected: Detected
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    promised: list[Promised] = field(default_factory=list)
    mets_files: list[str] = field(default_factory=list)
    references: int = 0
    premis_values: int = 0
    #: the package-level description as Dublin Core fields (with "_lang"), {} when none
    description: dict[str, Any] = field(default_factory=dict)
    #: the descriptive file it came from, relative to the delivery, and its schema
    description_file: str = ""
    description_schema: str = ""

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The algorithms the promised checksums use, each once."""
        return tuple(dict.fromkeys(p.algorithm for p in self.promised))

    def shown(self, path: str) -> str:
        return f"{self.detected.shown_prefix}{path}"

    def verify(self, digests: Mapping[str, Mapping[str, str]]) -> list[Problem]:
        """A problem for every promised checksum that ``digests`` (path -> {algorithm: hex})
        contradicts."""
        found: list[Problem] = []
        for p in self.promised:
            actual = digests.get(p.path, {}).get(p.algorithm)
            if actual is not None and actual.lower() != p.digest:
                what = "PREMIS fixity" if p.rule == "premis-fixity" else "METS checksum"
                found.append(
                    Problem(
                        p.rule,
                        self.shown(p.path),
                        f"{p.algorithm} is {actual.lower()}, but {self.shown(p.where)} lists "
                        f"{p.digest} ({what} mismatch)",
                    )
                )
        return found

    def summary(self) -> str:
        """``meemoo SIP 2.1 ... validated: 3 METS files, 12 file references, 12 checksums
        (md5) and 4 PREMIS fixity values verified``, for the PREMIS validation event."""
        metses = plural(len(self.mets_files), "METS file")
        refs = plural(self.references, "file reference")
        sums = sum(1 for p in self.promised if p.rule != "premis-fixity")
        algs = ", ".join(self.algorithms)
        text = (
            f"{self.detected.profile or self.detected.family} validated: {metses}, {refs}, "
            f"{plural(sums, 'checksum')}{f' ({algs})' if algs else ''} and "
            f"{plural(self.premis_values, 'PREMIS fixity value')} verified"
        )
        if self.detected.mets is not None and self.detected.mets.objid:
            text += f"; METS OBJID {self.detected.mets.objid}"
        return text

    def refuse(self, source: object, problems: Iterable[Problem] = ()) -> InvalidSip:
        """The error that refuses the delivery, every problem listed."""
        every = [*self.problems, *problems]
        what = self.detected.profile or self.detected.family or "SIP"
        return InvalidSip(
            f"{source}: invalid {what} ({plural(len(every), 'problem')}): "
            + "; ".join(str(p) for p in every[:SHOWN_PROBLEMS])
            + (" ..." if len(every) > SHOWN_PROBLEMS else ""),
            every,
        )


class _Files:
    """The delivery's files (path relative to the SIP root -> size), found also by their NFC
    form (a METS written on another system may name them composed)."""

    def __init__(self, files: Mapping[str, int]) -> None:
        self.sizes = dict(files)
        self._nfc = {unicodedata.normalize("NFC", p): p for p in files}

    def find(self, path: str) -> str | None:
        if path in self.sizes:
            return path
        return self._nfc.get(unicodedata.normalize("NFC", path))

    def under(self, folder: str) -> list[str]:
        prefix = folder.rstrip("/") + "/"
        return [p for p in self.sizes if p.startswith(prefix)]


def check_delivery(detected: Detected, files: Mapping[str, int]) -> SipCheck:
    """Check the SIP ``detected`` found, whose files (path relative to its root -> size) are
    ``files``; nothing is read but its XML files."""
    check = SipCheck(detected, problems=list(detected.problems), warnings=list(detected.warnings))
    listing = _Files(files)
    meemoo = detected.kind == MEEMOO_SIP
    _check_layout(check, listing, meemoo)
    metses: list[Mets] = []
    if detected.mets is not None:
        metses.append(detected.mets)
        metses += _representation_mets(check, listing, detected.mets, meemoo)
    check.mets_files = [m.path for m in metses]
    referenced: set[str] = set(check.mets_files)
    for mets in metses:
        referenced |= _check_references(check, listing, mets)
    referenced |= _check_premis(check, listing, meemoo)
    _read_description(check, listing)
    unlisted = sorted(
        p
        for p in listing.sizes
        if p not in referenced and not p.startswith(("documentation/", "schemas/"))
    )
    if unlisted and detected.mets is not None:
        check.warnings.append(
            Problem(
                "unlisted-files",
                check.shown(unlisted[0]),
                f"{plural(len(unlisted), 'file')} not listed in any METS file of the package "
                f"(e.g. {', '.join(check.shown(p) for p in unlisted[:NAMED])}); kept as payload",
                "warning",
            )
        )
    return check


def _problem(check: SipCheck, rule: str, path: str, message: str, meemoo_only: bool) -> None:
    """An error, or a warning where only meemoo requires it and the SIP is not meemoo's."""
    if meemoo_only:
        check.warnings.append(Problem(rule, check.shown(path), message, "warning"))
    else:
        check.problems.append(Problem(rule, check.shown(path), message))


def _check_layout(check: SipCheck, listing: _Files, meemoo: bool) -> None:
    root = check.detected.root
    mets_name = check.detected.mets_name
    version = check.detected.version
    wanted = "mets.xml" if meemoo and version.startswith("1") else "METS.xml"
    if mets_name and mets_name != wanted:
        check.warnings.append(
            Problem(
                "CSIPSTR4",
                check.shown(mets_name),
                f"named {mets_name}; {check.detected.family} {version} names it {wanted}",
                "warning",
            )
        )
    optional = not meemoo  # CSIP says SHOULD where the meemoo SIP says MUST
    if not (root / "metadata").is_dir():
        _problem(check, "CSIPSTR5", "metadata", "folder missing", optional)
    elif meemoo:
        for sub, rule in (("descriptive", "CSIPSTR7"), ("preservation", "CSIPSTR6")):
            if not (root / "metadata" / sub).is_dir():
                _problem(check, rule, f"metadata/{sub}", "folder missing (meemoo SIP)", False)
    representations = root / "representations"
    if not representations.is_dir():
        _problem(check, "CSIPSTR9", "representations", "folder missing", optional)
        return
    for entry in sorted(representations.iterdir(), key=lambda p: p.name):
        rel = f"representations/{entry.name}"
        if not entry.is_dir() or entry.is_symlink():
            check.warnings.append(
                Problem(
                    "CSIPSTR10",
                    check.shown(rel),
                    "not a representation folder; kept as payload",
                    "warning",
                )
            )
            continue
        if not (entry / "data").is_dir():
            check.problems.append(
                Problem(
                    "CSIPSTR11",
                    check.shown(rel),
                    "representation without a data/ folder",
                )
            )
        elif not listing.under(f"{rel}/data"):
            _problem(
                check, "CSIPSTR11", f"{rel}/data", "representation data folder is empty", optional
            )
        if not any((entry / n).is_file() for n in ("METS.xml", "mets.xml")):
            _problem(
                check,
                "CSIPSTR12",
                rel,
                "representation without its METS file",
                optional,
            )


def _representation_mets(
    check: SipCheck, listing: _Files, root_mets: Mets, meemoo: bool
) -> list[Mets]:
    """The representation METS files: those the root METS points at (mptr, fileSec) and those
    found in representation folders, each read once."""
    paths: list[str] = []
    for ref in root_mets.references:
        name = posixpath.basename(ref.path).lower()
        if ref.path and name == "mets.xml" and (ref.kind == POINTER or ref.path != root_mets.path):
            paths.append(ref.path)
    for p in sorted(listing.sizes):
        parts = p.split("/")
        if len(parts) == 3 and parts[0] == "representations" and parts[2].lower() == "mets.xml":
            paths.append(p)
    found: list[Mets] = []
    for path in dict.fromkeys(paths):
        real = listing.find(path)
        if real is None or real == root_mets.path:
            continue  # a missing one is reported with the references
        try:
            element = parse(check.detected.root / real, check.shown(real))
        except XmlProblem as exc:
            check.problems.append(exc.problem)
            continue
        if not is_mets(element):
            check.problems.append(Problem("CSIPSTR12", check.shown(real), "not a METS document"))
            continue
        found.append(mets_from(element, real))
    return found


def _check_references(check: SipCheck, listing: _Files, mets: Mets) -> set[str]:
    """Every reference of ``mets``: present, inside the package, of the size it lists; its
    checksums become promises. Returns the paths referenced."""
    seen: set[str] = set()
    where = check.shown(mets.path)
    for ref in mets.references:
        rule = HREF_RULE[ref.kind]
        if not ref.href.strip():
            check.problems.append(
                Problem(rule, where, f"a {ref.kind} reference without an xlink:href")
            )
            continue
        if ref.unsafe:
            check.problems.append(Problem(rule, where, f"reference {ref.href!r} is {ref.unsafe}"))
            continue
        real = listing.find(ref.path)
        if real is None:
            is_folder = (check.detected.root / ref.path).is_dir()
            if is_folder and ref.kind != POINTER:
                seen.update(listing.under(ref.path))  # a fileGrp may point at a folder
                continue
            check.problems.append(
                Problem(
                    rule,
                    check.shown(ref.path),
                    f"listed in {where} ({ref.kind}) but not in the delivery",
                )
            )
            continue
        check.references += 1
        seen.add(real)
        size = listing.sizes[real]
        if ref.size_text and ref.size is None:
            check.warnings.append(
                Problem(
                    "CSIP69",
                    check.shown(real),
                    f"{where} lists SIZE {ref.size_text!r}, not a number",
                    "warning",
                )
            )
        elif ref.size is not None and ref.size != size:
            check.problems.append(
                Problem(
                    "CSIP69",
                    check.shown(real),
                    f"{plural(size, 'byte')}, but {where} lists SIZE {ref.size}",
                )
            )
        if ref.checksum:
            _promise(
                check,
                real,
                ref.checksum_type,
                ref.checksum,
                mets.path,
                "CSIP71" if ref.kind != "dmdSec" and ref.kind != "amdSec" else "CSIP24",
            )
    return seen


def _promise(
    check: SipCheck, path: str, algorithm: str, digest: str, where: str, rule: str
) -> None:
    token = bagit_token(algorithm)
    if not algorithm:
        check.warnings.append(
            Problem(
                "CSIP72",
                check.shown(path),
                f"{check.shown(where)} gives a checksum without its type: not verified",
                "warning",
            )
        )
    elif not is_supported(token) or token == "crc64nvme":
        check.warnings.append(
            Problem(
                "unsupported-checksum",
                check.shown(path),
                f"{check.shown(where)} gives a {algorithm} checksum, which preserve cannot "
                "compute: not verified",
                "warning",
            )
        )
    else:
        check.promised.append(Promised(path, token, digest.lower(), where, rule))


def _premis_files(listing: _Files) -> list[str]:
    """The XML files of the package's and each representation's metadata/preservation/."""
    found = []
    for p in sorted(listing.sizes):
        if not p.lower().endswith(".xml"):
            continue
        parts = p.split("/")
        if parts[:2] == ["metadata", "preservation"] or (
            len(parts) > 4
            and parts[0] == "representations"
            and parts[2:4] == ["metadata", "preservation"]
        ):
            found.append(p)
    return found


def _fixity_target(listing: _Files, fixity: Fixity) -> str | None:
    """The delivery file a PREMIS fixity value is about: its content location or original name
    taken from the package root, the representation folder or its data/ folder; else the one
    file of that name in the representation (the whole package for package-level PREMIS)."""
    parts = fixity.premis.split("/")
    bases = [""]
    scope = ""
    if parts[0] == "representations" and len(parts) > 2:
        scope = "/".join(parts[:2])
        bases = [scope + "/data", scope, ""]
    names = [n for n in (fixity.content_location, fixity.original_name) if n]
    for name in names:
        path, unsafe = _relative(name)
        if unsafe:
            continue
        for base in bases:
            found = listing.find(posixpath.normpath(posixpath.join(base, path)) if base else path)
            if found is not None:
                return found
    for name in names:
        leaf = posixpath.basename(name.replace("\\", "/"))
        candidates = [
            p
            for p in (listing.under(scope) if scope else listing.sizes)
            if posixpath.basename(p) == leaf
        ]
        if len(candidates) == 1:
            return candidates[0]
    return None


def _relative(name: str) -> tuple[str, bool]:
    path, unsafe = resolve_href(name, "")
    return path, bool(unsafe)


def _check_premis(check: SipCheck, listing: _Files, meemoo: bool) -> set[str]:
    """The producer's PREMIS fixity values become promises; values naming no file are
    warned about (PREMIS may describe files that were not delivered)."""
    files = _premis_files(listing)
    if (
        meemoo
        and "metadata/preservation/premis.xml" not in listing.sizes
        and (check.detected.root / "metadata" / "preservation").is_dir()
    ):
        check.warnings.append(
            Problem(
                "meemoo-structure",
                check.shown("metadata/preservation/premis.xml"),
                "missing: the meemoo SIP keeps the package's PREMIS there",
                "warning",
            )
        )
    for rel in files:
        try:
            element = parse(check.detected.root / rel, check.shown(rel))
        except XmlProblem as exc:
            check.problems.append(exc.problem)
            continue
        if not is_premis(element):
            continue
        unmatched: list[str] = []
        for fixity in fixities(element, rel):
            target = _fixity_target(listing, fixity)
            if target is None:
                unmatched.append(fixity.content_location or fixity.original_name or "(no name)")
                continue
            check.premis_values += 1
            _promise(check, target, fixity.algorithm, fixity.digest, rel, "premis-fixity")
        if unmatched:
            check.warnings.append(
                Problem(
                    "premis-fixity",
                    check.shown(rel),
                    f"{plural(len(unmatched), 'fixity value')} for files not in the delivery "
                    f"({', '.join(unmatched[:NAMED])}{' ...' if len(unmatched) > NAMED else ''}): "
                    "not verified",
                    "warning",
                )
            )
    return set(files)


def _read_description(check: SipCheck, listing: _Files) -> None:
    """The package-level description: the first Dublin Core or MODS file among those the
    root METS references in its dmdSecs, then those in metadata/descriptive/ (name order)."""
    candidates: list[str] = []
    if check.detected.mets is not None:
        for ref in check.detected.mets.descriptive:
            real = listing.find(ref.path) if ref.path else None
            if real is not None:
                candidates.append(real)
    candidates += [
        p
        for p in sorted(listing.sizes)
        if p.startswith("metadata/descriptive/") and p.lower().endswith(".xml")
    ]
    unknown: list[tuple[str, str]] = []
    for rel in dict.fromkeys(candidates):
        try:
            element = parse(check.detected.root / rel, check.shown(rel))
        except XmlProblem as exc:
            check.problems.append(exc.problem)
            continue
        found = read_description(element)
        if found is None:
            unknown.append((rel, f"{{{namespace(element.tag)}}}{local(element.tag)}"))
            continue
        schema, fields = found
        if not check.description and fields:
            check.description = main_title_first(fields)
            check.description_file = check.shown(rel)
            check.description_schema = schema
    for rel, root_tag in unknown:
        check.warnings.append(
            Problem(
                "unknown-descriptive-schema",
                check.shown(rel),
                f"descriptive metadata in a schema preserve does not read ({root_tag}, neither "
                "Dublin Core nor MODS): kept in the payload"
                + ("" if check.description else "; the package is titled after the delivery"),
                "warning",
            )
        )


def read_digests(root: Path, promised: Iterable[Promised]) -> dict[str, dict[str, str]]:
    """The digests the promises need, each file read once (every algorithm in that read)."""
    wanted: dict[str, set[str]] = {}
    for p in promised:
        wanted.setdefault(p.path, set()).add(p.algorithm)
    digests: dict[str, dict[str, str]] = {}
    for path, algorithms in wanted.items():
        try:
            _, digests[path] = hash_file(root / path, sorted(algorithms))
        except OSError:
            continue  # reported as a missing file, or by the staging that reads it next
    return digests


def scan(root: Path) -> dict[str, int]:
    """Every regular file under ``root`` (path relative to it -> size); links not followed."""
    files: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(root).as_posix()] = path.stat().st_size
    return files


def validate_sip(root: Path, *, bag: bool = False) -> SipCheck:
    """Check the SIP at ``root`` on its own (``bag``: ``root`` is a bag's ``data/``), reading
    each file with a promised checksum once; ``problems`` of the result lists everything."""
    detected = detect(root, bag=bag)
    if not detected.is_sip:
        return SipCheck(detected, warnings=list(detected.warnings))
    check = check_delivery(detected, scan(root))
    check.problems += check.verify(read_digests(root, check.promised))
    return check
