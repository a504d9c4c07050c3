"""BagIt profiles (the bagit-profiles specification, 1.1.0 to 1.4.0): load one, check a bag.

A profile is a JSON document that producer and consumer agree on: which ``bag-info.txt`` tags a
bag must have and which values they may take, which manifests, tag files and payload files it
must or may have, whether ``fetch.txt`` is allowed, whether the bag comes as a folder or as a
zip/tar, and which BagIt versions are accepted. A bag declares the profile it follows with
``BagIt-Profile-Identifier`` in ``bag-info.txt``.

Profiles are read from local files (or the ones bundled in ``profiles/``: preserve's own AIP
profile, APTrust's and Beyond the Repository's); nothing is ever fetched from the network, not
even the URI a profile or a bag names. Standard library only.

The check comes on top of the bag's own RFC 8493 validation (:mod:`~preserve.bagit.validator`):
it reads only names, ``bagit.txt``, ``bag-info.txt`` and the manifests' path lists, never a
payload byte, and reports every breach at once (the spec allows stopping at a wrong
serialisation or BagIt version; we go on, since the rest of the bag was read anyway).

Problem codes (all errors; the path is the file concerned, "" for the bag as a whole):

``profile-bagit-version``          the bag's BagIt-Version is not in Accept-BagIt-Version
``profile-serialization``          a serialised bag where the profile forbids it, or a folder
                                   where it requires an archive
``profile-serialization-type``     an archive type (MIME) not in Accept-Serialization
``profile-identifier``             no BagIt-Profile-Identifier naming this profile in bag-info
``profile-tag-required``           a required bag-info tag is missing
``profile-tag-value``              a bag-info value not among the tag's allowed ``values``
``profile-tag-repeated``           a tag that is not ``repeatable`` appears more than once
``profile-manifest-required``      a required payload manifest is missing
``profile-manifest-not-allowed``   a payload manifest whose algorithm is not allowed
``profile-tag-manifest-required``  a required tag manifest is missing
``profile-tag-manifest-not-allowed``  a tag manifest whose algorithm is not allowed
``profile-tag-file-required``      a required tag file (or folder) is missing
``profile-tag-file-not-allowed``   a tag file no pattern of Tag-Files-Allowed covers
``profile-payload-file-required``  a required payload file (or folder) is missing
``profile-payload-file-not-allowed``  a payload file no pattern of Payload-Files-Allowed covers
``profile-fetch-not-allowed``      a ``fetch.txt`` where Allow-Fetch.txt is false
``profile-fetch-required``         no ``fetch.txt`` where Fetch.txt-Required is true
``profile-data-not-empty``         Data-Empty, but ``data/`` holds more than one empty file

Patterns (Tag-Files-*, Payload-Files-*) are paths relative to the bag's top folder, as the spec
words them: an asterisk stands for zero or more characters, ``/`` included (so ``*`` is every
file and ``metadata/*`` everything below ``metadata/``), ``?`` for one character and ``[...]``
for one of a set (glob(7)); an entry ending in ``/`` names a folder: in a Required list it must
hold a file, in an Allowed list every file below it is allowed. Matching is case-sensitive.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

from preserve.bagit.manifest import MANIFEST_NAME, TAGMANIFEST_NAME, parse_manifest
from preserve.bagit.taginfo import decode_tag_text, parse_bag_info, parse_bagit_txt
from preserve.checksums import bagit_token
from preserve.errors import InvalidInput
from preserve.names import suggestions
from preserve.text import plural
from preserve.values import Problem

__all__ = [
    "AIP_PROFILE_IDENTIFIER",
    "BUNDLED",
    "SPEC_VERSIONS",
    "InvalidProfile",
    "Profile",
    "TagRule",
    "bundled_text",
    "check_profile",
    "load_profile",
    "parse_profile",
    "resolve_profile",
    "serialisation_type",
]

log = logging.getLogger(__name__)

#: versions of the bagit-profiles specification read here (BagIt-Profile-Version); a profile
#: that names none follows 1.1.0, as the spec says
SPEC_VERSIONS = ("1.1.0", "1.2.0", "1.3.0", "1.4.0")

#: the profiles bundled with preserve: name -> file in preserve/bagit/profiles/
BUNDLED = {
    "preserve-aip": "preserve-aip-1.0.json",
    "aptrust": "aptrust-v2.2.json",
    "btr": "btr-v1.0.json",
}
#: the bundled profile `preserve bag profile` prints when no name is given
DEFAULT_BUNDLED = "preserve-aip"
#: what every AIP preserve writes declares in bag-info.txt (preserve-aip-1.0.json)
AIP_PROFILE_IDENTIFIER = "urn:preserve:bagit-profile:preserve-aip:1.0"

#: the bag's own files, never "tag files" in the sense of Tag-Files-Allowed
_STRUCTURE = re.compile(r"bagit\.txt|bag-info\.txt|fetch\.txt|(tag)?manifest-[^/]*\.txt")

#: MIME types naming each kind of archive (profiles use several for the same thing)
_MIME_TYPES = {
    "zip": ("application/zip", "application/x-zip", "application/x-zip-compressed"),
    "tar": ("application/x-tar", "application/tar"),
    "gzip": (
        "application/gzip",
        "application/x-gzip",
        "application/tar+gzip",
        "application/x-gtar",
        "application/x-compressed-tar",
    ),
    "bzip2": ("application/x-bzip2", "application/x-bzip", "application/x-bzip-compressed-tar"),
    "xz": ("application/x-xz", "application/x-xz-compressed-tar"),
}
_SERIALIZATION_RULES = ("forbidden", "required", "optional")
_VERSION = re.compile(r"\d+(\.\d+)*")


class InvalidProfile(InvalidInput):
    """A profile file that cannot be used: not JSON, not an object, an unknown version, a field
    of the wrong type, or rules that contradict each other (one line naming the file)."""

    code = "invalid-profile"


@dataclass(frozen=True)
class TagRule:
    """What a profile says of one bag-info tag."""

    name: str
    required: bool = False
    #: the values allowed; None: any value
    values: tuple[str, ...] | None = None
    repeatable: bool = True
    description: str = ""


@dataclass(frozen=True)
class Profile:
    """A BagIt profile, read and checked; ``document`` is the JSON object as given."""

    identifier: str
    version: str
    spec_version: str
    source_organization: str
    external_description: str
    bag_info: tuple[TagRule, ...]
    accept_bagit_version: tuple[str, ...]
    manifests_required: tuple[str, ...] = ()
    #: None: every algorithm is allowed
    manifests_allowed: tuple[str, ...] | None = None
    tag_manifests_required: tuple[str, ...] = ()
    tag_manifests_allowed: tuple[str, ...] | None = None
    tag_files_required: tuple[str, ...] = ()
    tag_files_allowed: tuple[str, ...] = ("*",)
    payload_files_required: tuple[str, ...] = ()
    payload_files_allowed: tuple[str, ...] = ("*",)
    allow_fetch: bool = True
    fetch_required: bool = False
    data_empty: bool = False
    serialization: str = "optional"
    #: None: the profile names no type, so every archive preserve reads is accepted
    accept_serialization: tuple[str, ...] | None = None
    #: where it was read from, as messages name it: a file, "bundled profile X", ...
    source: str = ""
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def title(self) -> str:
        """How a person knows it: its identifier and version."""
        return f"{self.identifier} (version {self.version})"


# -------------------------------------------------------------------------------- loading


def load_profile(path: Path) -> Profile:
    """Read the profile in the local file ``path``; :class:`InvalidProfile` (naming the file)
    for a file that cannot be read or is not a profile."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidProfile(f"{path}: no such profile file") from None
    except IsADirectoryError:
        raise InvalidProfile(f"{path}: is a folder, not a profile file (JSON)") from None
    except OSError as exc:
        raise InvalidProfile(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return _from_bytes(data, str(path))


def _from_bytes(data: bytes, source: str) -> Profile:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidProfile(
            f"{source}: not a BagIt profile: not UTF-8 text (byte {exc.start}); a profile is "
            "a JSON document"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidProfile(
            f"{source}: not a BagIt profile: not valid JSON (line {exc.lineno}, column "
            f"{exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise InvalidProfile(f"{source}: not a BagIt profile: JSON nested too deeply") from None
    return parse_profile(document, source)


def bundled_text(name: str) -> str:
    """The JSON text of the bundled profile ``name`` (see :data:`BUNDLED`)."""
    if name not in BUNDLED:
        raise InvalidProfile(
            f"{name!r}: no bundled profile of that name{_did_you_mean(name)} "
            f"(bundled: {', '.join(BUNDLED)})"
        )
    return resources.files("preserve.bagit").joinpath("profiles", BUNDLED[name]).read_text("utf-8")


def resolve_profile(given: str | Path) -> Profile:
    """The profile ``given`` names: a bundled profile's name (``preserve-aip``, ``aptrust``,
    ``btr``) or a local file. A URL is refused: profiles are never fetched."""
    text = str(given)
    if text in BUNDLED:
        return _from_bytes(bundled_text(text).encode("utf-8"), f"bundled profile {text}")
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text):
        raise InvalidProfile(
            f"{text}: profiles are read from local files, never fetched: download it and give "
            f"the file (or one of the bundled profiles: {', '.join(BUNDLED)})"
        )
    path = Path(given)
    if not path.exists() and not path.suffix and os.sep not in text and "/" not in text:
        raise InvalidProfile(
            f"{text}: no such profile file, nor a bundled profile{_did_you_mean(text)} "
            f"(bundled: {', '.join(BUNDLED)})"
        )
    return load_profile(path)


def _did_you_mean(name: str) -> str:
    """``; did you mean 'aptrust'?`` when ``name`` is close to bundled profiles' names."""
    close = suggestions(name, BUNDLED)
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""


class _Reader:
    """Reads the fields of a profile document, each wrong one a one-line error."""

    def __init__(self, document: Mapping[str, Any], source: str) -> None:
        self.document = document
        self.source = source

    def fail(self, message: str) -> InvalidProfile:
        return InvalidProfile(f"{self.source}: not a usable BagIt profile: {message}")

    def boolean(self, key: str, default: bool, within: Mapping[str, Any] | None = None) -> bool:
        where = self.document if within is None else within
        value = where.get(key, default)
        if isinstance(value, bool):
            return value
        # the spec's ABNF quotes its booleans ("true"); some profiles follow it
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(f"{key} must be true or false, not {json.dumps(value)}")

    def strings(self, key: str, within: Mapping[str, Any] | None = None) -> tuple[str, ...] | None:
        where = self.document if within is None else within
        if key not in where or where[key] is None:
            return None
        value = where[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{key} must be a list of strings, not {json.dumps(value)[:80]}")
        return tuple(value)

    def text(self, key: str, within: Mapping[str, Any], *, required: bool = True) -> str:
        value = within.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            what = "is missing" if value is None else f"must be a non-empty string, not {value!r}"
            raise self.fail(f"BagIt-Profile-Info: {key} {what}")
        return value.strip()


def parse_profile(document: Any, source: str) -> Profile:
    """A :class:`Profile` from a JSON value already parsed (a file's, or one stored in the
    catalogue); ``source`` names it in messages."""
    if not isinstance(document, dict):
        raise InvalidProfile(
            f"{source}: not a BagIt profile: the JSON is {type(document).__name__!s}, not an "
            "object with BagIt-Profile-Info"
        )
    r = _Reader(document, source)
    info = document.get("BagIt-Profile-Info")
    if not isinstance(info, dict):
        looks_like = (
            " (this looks like a DART profile, APTrust's own format: export it in the "
            "standard format)"
            if "bagItProfileInfo" in document or "tags" in document
            else ""
        )
        raise InvalidProfile(
            f"{source}: not a BagIt profile: no BagIt-Profile-Info object{looks_like}"
        )
    spec = info.get("BagIt-Profile-Version", "1.1.0")
    if spec not in SPEC_VERSIONS:
        raise InvalidProfile(
            f"{source}: BagIt-Profile-Version {json.dumps(spec)} is not a version of the BagIt "
            f"profiles specification preserve reads ({', '.join(SPEC_VERSIONS)})"
        )
    identifier = r.text("BagIt-Profile-Identifier", info)
    version = r.text("Version", info)
    organisation = r.text("Source-Organization", info)
    description = r.text("External-Description", info)

    bag_info = _tag_rules(r, document.get("Bag-Info", {}))
    accept_versions = r.strings("Accept-BagIt-Version")
    if not accept_versions:
        raise r.fail('Accept-BagIt-Version must list at least one BagIt version (e.g. "1.0")')
    for v in accept_versions:
        if not _VERSION.fullmatch(v):
            raise r.fail(f'Accept-BagIt-Version: {v!r} is not a version number such as "1.0"')

    serialization = document.get("Serialization", "optional")
    if serialization not in _SERIALIZATION_RULES:
        raise r.fail(
            "Serialization must be forbidden, required or optional, not "
            + json.dumps(serialization)
        )
    accept_serialization = r.strings("Accept-Serialization")
    if serialization == "required" and not accept_serialization:
        raise r.fail("Serialization is required but Accept-Serialization names no MIME type")

    def algorithms(key: str) -> tuple[str, ...] | None:
        names = r.strings(key)
        return None if names is None else tuple(bagit_token(n) for n in names)

    manifests_required = algorithms("Manifests-Required") or ()
    manifests_allowed = algorithms("Manifests-Allowed")
    tag_manifests_required = algorithms("Tag-Manifests-Required") or ()
    tag_manifests_allowed = algorithms("Tag-Manifests-Allowed")
    for required, allowed, what in (
        (manifests_required, manifests_allowed, "Manifests"),
        (tag_manifests_required, tag_manifests_allowed, "Tag-Manifests"),
    ):
        outside = [a for a in required if allowed is not None and a not in allowed]
        if outside:
            raise r.fail(
                f"{what}-Required names {', '.join(outside)}, which {what}-Allowed does not allow"
            )
    tag_required = r.strings("Tag-Files-Required") or ()
    tag_allowed = r.strings("Tag-Files-Allowed")
    payload_required = r.strings("Payload-Files-Required") or ()
    payload_allowed = r.strings("Payload-Files-Allowed")
    for required_paths, allowed_paths, what in (
        (tag_required, tag_allowed, "Tag-Files"),
        (payload_required, payload_allowed, "Payload-Files"),
    ):
        if allowed_paths is None:
            continue
        outside = [p for p in required_paths if not _allowed(_clean(p), allowed_paths)]
        if outside:
            raise r.fail(
                f"{what}-Required names {', '.join(outside)}, which no pattern of "
                f"{what}-Allowed covers"
            )
    allow_fetch = r.boolean("Allow-Fetch.txt", True)
    fetch_required = r.boolean("Fetch.txt-Required", False)
    if fetch_required and not allow_fetch:
        raise r.fail("Fetch.txt-Required is true but Allow-Fetch.txt is false")
    return Profile(
        identifier=identifier,
        version=version,
        spec_version=spec,
        source_organization=organisation,
        external_description=description,
        bag_info=bag_info,
        accept_bagit_version=accept_versions,
        manifests_required=manifests_required,
        manifests_allowed=manifests_allowed,
        tag_manifests_required=tag_manifests_required,
        tag_manifests_allowed=tag_manifests_allowed,
        tag_files_required=tuple(_clean(p) for p in tag_required),
        tag_files_allowed=("*",) if tag_allowed is None else tuple(map(_clean, tag_allowed)),
        payload_files_required=tuple(_clean(p) for p in payload_required),
        payload_files_allowed=(
            ("*",) if payload_allowed is None else tuple(map(_clean, payload_allowed))
        ),
        allow_fetch=allow_fetch,
        fetch_required=fetch_required,
        data_empty=r.boolean("Data-Empty", False),
        serialization=serialization,
        accept_serialization=accept_serialization,
        source=source,
        document=document,
    )


def _tag_rules(r: _Reader, section: Any) -> tuple[TagRule, ...]:
    if not isinstance(section, dict):
        raise r.fail("Bag-Info must be an object of tag names")
    rules = []
    for name, rule in section.items():
        if not isinstance(rule, dict):
            raise r.fail(f'Bag-Info: {name} must be an object such as {{"required": true}}')
        values = r.strings("values", rule)
        description = rule.get("description", "")
        rules.append(
            TagRule(
                name=name,
                required=r.boolean("required", False, rule),
                # an empty list means any value, as the spec says
                values=values or None,
                repeatable=r.boolean("repeatable", True, rule),
                description=description if isinstance(description, str) else "",
            )
        )
    return tuple(rules)


def _clean(pattern: str) -> str:
    """A path pattern relative to the bag's top folder, without a leading ``./`` or ``/``."""
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern.lstrip("/")


# -------------------------------------------------------------------------------- matching


def _matches(path: str, pattern: str) -> bool:
    if pattern.endswith("/"):
        return path.startswith(pattern)
    return fnmatchcase(path, pattern)


def _allowed(path: str, patterns: Iterable[str]) -> bool:
    return any(_matches(path, p) for p in patterns)


def _present(pattern: str, paths: Collection[str]) -> bool:
    """Whether a Required entry is met: the file, a file below the folder, or a match."""
    if pattern.endswith("/") or any(c in pattern for c in "*?["):
        return any(_matches(p, pattern) for p in paths)
    return pattern in paths


def serialisation_type(path: Path) -> str | None:
    """The kind of archive ``path`` is, judged by its first bytes: ``zip``, ``tar``, ``gzip``,
    ``bzip2`` or ``xz`` (a compressed tar), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    from preserve import archives

    kind = archives.archive_kind(path)
    return None if kind is None else str(kind)


def mime_types(kind: str) -> tuple[str, ...]:
    """The MIME types that name an archive of ``kind`` (see :func:`serialisation_type`)."""
    return _MIME_TYPES.get(kind, ())


# -------------------------------------------------------------------------------- reading


@dataclass
class _Bag:
    """What a profile looks at in a bag: names, declaration, bag-info, manifest paths."""

    files: dict[str, int] = field(default_factory=dict)  # relative path -> size (lstat)
    version: tuple[int, int] | None = None
    bag_info: list[tuple[str, str]] | None = None  # None: no readable bag-info.txt
    manifests: dict[str, str] = field(default_factory=dict)  # algorithm -> file name
    tag_manifests: dict[str, str] = field(default_factory=dict)
    listed_payload: set[str] = field(default_factory=set)  # payload manifests' paths


def _walk(root: Path) -> dict[str, int]:
    files: dict[str, int] = {}
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else Path(rel).as_posix() + "/"
        for d in list(dirs):
            if os.path.islink(os.path.join(folder, d)):
                dirs.remove(d)  # never followed; the validator says what it is
                files[prefix + d] = 0
        for name in names:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            files[prefix + name] = st.st_size if stat.S_ISREG(st.st_mode) else 0
    return files


def _read(root: Path) -> _Bag:
    bag = _Bag(files=_walk(root))
    encoding = "UTF-8"
    if "bagit.txt" in bag.files:
        try:
            declaration = parse_bagit_txt((root / "bagit.txt").read_bytes())
        except OSError:
            declaration = None
        if declaration is not None:
            bag.version = declaration.version
            encoding = declaration.encoding or encoding
    rules = bag.version or (1, 0)

    def text(name: str) -> str | None:
        try:
            return decode_tag_text((root / name).read_bytes(), encoding)[0]
        except (OSError, LookupError, UnicodeDecodeError):
            return None  # the RFC validation reports it

    info_name = "package-info.txt" if rules <= (0, 95) else "bag-info.txt"
    if info_name in bag.files:
        info_text = text(info_name)
        if info_text is not None:
            bag.bag_info = parse_bag_info(info_text, rules, info_name)[0]
    for name in sorted(n for n in bag.files if "/" not in n):
        m = TAGMANIFEST_NAME.fullmatch(name)
        if m is not None:
            bag.tag_manifests[bagit_token(m.group(1))] = name
            continue
        m = MANIFEST_NAME.fullmatch(name)
        if m is None:
            continue
        algorithm = bagit_token(m.group(1))
        bag.manifests[algorithm] = name
        manifest_text = text(name)
        if manifest_text is not None:
            parsed = parse_manifest(manifest_text, name=name, algorithm=algorithm, version=rules)
            bag.listed_payload.update(parsed.entries)
    return bag


# -------------------------------------------------------------------------------- checking


def check_profile(root: Path, profile: Profile, *, serialised: str | None = None) -> list[Problem]:
    """Every breach of ``profile`` by the bag in the folder ``root``, in the order of the spec's
    fields. ``serialised`` is the kind of archive the bag came in (:func:`serialisation_type`),
    None when it came as a folder."""
    root = Path(root)
    bag = _read(root)
    out: list[Problem] = []

    def breach(code: str, path: str, message: str) -> None:
        out.append(Problem(code, path, message))

    # fatal in the spec's eyes (the rest may be unverifiable), so first
    if bag.version is not None:
        have = f"{bag.version[0]}.{bag.version[1]}"
        if not any(_same_version(have, v) for v in profile.accept_bagit_version):
            breach(
                "profile-bagit-version",
                "bagit.txt",
                f"BagIt-Version {have} is not accepted by the profile (it accepts "
                f"{', '.join(profile.accept_bagit_version)})",
            )
    _check_serialisation(profile, serialised, breach)
    _check_bag_info(profile, bag, breach)

    for required, allowed, present, what, prefix in (
        (
            profile.manifests_required,
            profile.manifests_allowed,
            bag.manifests,
            "payload manifest",
            "manifest",
        ),
        (
            profile.tag_manifests_required,
            profile.tag_manifests_allowed,
            bag.tag_manifests,
            "tag manifest",
            "tag-manifest",
        ),
    ):
        file_prefix = "tagmanifest" if prefix == "tag-manifest" else "manifest"
        for algorithm in required:
            if algorithm not in present:
                breach(
                    f"profile-{prefix}-required",
                    f"{file_prefix}-{algorithm}.txt",
                    f"the profile requires this {what} ({algorithm}) and the bag has none",
                )
        if allowed is not None:
            for algorithm, name in sorted(present.items()):
                if algorithm not in allowed:
                    breach(
                        f"profile-{prefix}-not-allowed",
                        name,
                        f"{what} algorithm {algorithm} is not allowed by the profile (it "
                        f"allows {', '.join(allowed) or 'none'})",
                    )

    tag_files = sorted(p for p in bag.files if not p.startswith("data/") and p != "data")
    for pattern in profile.tag_files_required:
        if not _present(pattern, bag.files):
            breach(
                "profile-tag-file-required",
                pattern,
                "the profile requires this tag "
                + ("folder" if pattern.endswith("/") else "file")
                + " and the bag has none",
            )
    for path in tag_files:
        if not _STRUCTURE.fullmatch(path) and not _allowed(path, profile.tag_files_allowed):
            breach(
                "profile-tag-file-not-allowed",
                path,
                "tag file not allowed by the profile (Tag-Files-Allowed: "
                f"{', '.join(profile.tag_files_allowed) or 'none'})",
            )

    payload = {p for p in bag.files if p.startswith("data/")} | bag.listed_payload
    for pattern in profile.payload_files_required:
        if not _present(pattern, payload):
            breach(
                "profile-payload-file-required",
                pattern,
                "the profile requires this payload "
                + ("folder" if pattern.endswith("/") else "file")
                + " and the bag has none",
            )
    if profile.payload_files_allowed != ("*",):
        for path in sorted(payload):
            if not _allowed(path, profile.payload_files_allowed):
                breach(
                    "profile-payload-file-not-allowed",
                    path,
                    "payload file not allowed by the profile (Payload-Files-Allowed: "
                    f"{', '.join(profile.payload_files_allowed) or 'none'})",
                )

    has_fetch = "fetch.txt" in bag.files
    if has_fetch and not profile.allow_fetch:
        breach("profile-fetch-not-allowed", "fetch.txt", "the profile does not allow fetch.txt")
    if profile.fetch_required and not has_fetch:
        breach("profile-fetch-required", "fetch.txt", "the profile requires a fetch.txt")

    if profile.data_empty:
        sizes = [bag.files.get(p) for p in sorted(payload)]
        if len(sizes) > 1 or (sizes and sizes[0] != 0):
            breach(
                "profile-data-not-empty",
                "data",
                f"the profile requires an empty payload (no file, or one empty file); data/ "
                f"holds {len(sizes)} file{'' if len(sizes) == 1 else 's'}"
                + ("" if len(sizes) != 1 else " that is not empty"),
            )
    log.info(
        "bag %s against profile %s: %s",
        root,
        profile.identifier,
        plural(len(out), "breach", "breaches") if out else "conforms",
    )
    return out


def _same_version(have: str, accepted: str) -> bool:
    """``1.0`` is ``1.0``; ``0.97`` is ``0.97`` (compared as numbers, ``1.00`` too)."""
    try:
        return tuple(map(int, have.split("."))) == tuple(map(int, accepted.split(".")))
    except ValueError:
        return have == accepted


def _check_serialisation(profile: Profile, serialised: str | None, breach: Any) -> None:
    if serialised is None:
        if profile.serialization == "required":
            breach(
                "profile-serialization",
                "",
                "the profile requires the bag as one file ("
                + ", ".join(profile.accept_serialization or ())
                + "), not as a folder",
            )
        return
    names = mime_types(serialised)
    shown = names[0] if names else serialised
    if profile.serialization == "forbidden":
        breach(
            "profile-serialization",
            "",
            f"the profile forbids serialised bags: this one is a {serialised} archive "
            f"({shown}); send the bag as a folder",
        )
        return
    accepted = profile.accept_serialization
    if accepted is not None and not any(n in accepted for n in names):
        breach(
            "profile-serialization-type",
            "",
            f"a {serialised} archive ({shown}) is not accepted by the profile (Accept-"
            f"Serialization: {', '.join(accepted) or 'none'})",
        )


def _check_bag_info(profile: Profile, bag: _Bag, breach: Any) -> None:
    elements = bag.bag_info or []
    by_label: dict[str, list[str]] = {}
    for label, value in elements:
        by_label.setdefault(label.lower(), []).append(value)
    # a URI holds no whitespace: a value folded over lines (RFC 8493 §2.2.2) is joined again
    declared = ["".join(v.split()) for v in by_label.get("bagit-profile-identifier", [])]
    if not declared:
        breach(
            "profile-identifier",
            "bag-info.txt",
            f"BagIt-Profile-Identifier is missing: a bag that follows the profile names it "
            f"({profile.identifier})",
        )
    elif profile.identifier not in declared:
        breach(
            "profile-identifier",
            "bag-info.txt",
            f"BagIt-Profile-Identifier is {', '.join(declared)}, not this "
            f"profile's {profile.identifier}",
        )
    for rule in profile.bag_info:
        values = by_label.get(rule.name.lower(), [])
        if rule.required and not values:
            breach(
                "profile-tag-required",
                "bag-info.txt",
                f"{rule.name} is required by the profile and missing",
            )
        if not rule.repeatable and len(values) > 1:
            breach(
                "profile-tag-repeated",
                "bag-info.txt",
                f"{rule.name} appears {len(values)} times; the profile says it does not repeat",
            )
        if rule.values is not None:
            allowed = {" ".join(v.split()) for v in rule.values}
            for value in values:
                # a long value may be folded over lines: compared with its spaces collapsed
                if " ".join(value.split()) not in allowed:
                    breach(
                        "profile-tag-value",
                        "bag-info.txt",
                        f"{rule.name}: {value.strip()!r} is not one of the values the profile "
                        f"allows ({', '.join(rule.values)})",
                    )


def identifiers(bag_info: Sequence[tuple[str, str]]) -> list[str]:
    """The profiles a bag-info declares (BagIt-Profile-Identifier, which may repeat)."""
    return [v.strip() for k, v in bag_info if k.lower() == "bagit-profile-identifier"]
