"""Bags and formats: bag make, bag validate, identify."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from preserve.cli.base import GivenPath, cli, note, warn
from preserve.cli.output import as_dict, count, emit_json, human_bytes, problem_json

F = TypeVar("F", bound=Callable[..., Any])


@cli.group()
def bag() -> None:
    """Make and validate BagIt bags (RFC 8493)."""


#: bagit.py's bag-info options, in the order of its --help (and of RFC 8493 §2.2.2)
BAG_INFO_OPTIONS = (
    ("source-organization", "Source-Organization"),
    ("organization-address", "Organization-Address"),
    ("contact-name", "Contact-Name"),
    ("contact-phone", "Contact-Phone"),
    ("contact-email", "Contact-Email"),
    ("external-description", "External-Description"),
    ("external-identifier", "External-Identifier"),
    ("bag-group-identifier", "Bag-Group-Identifier"),
    ("bag-count", "Bag-Count"),
    ("internal-sender-identifier", "Internal-Sender-Identifier"),
    ("internal-sender-description", "Internal-Sender-Description"),
    ("bagit-profile-identifier", "BagIt-Profile-Identifier"),
)
_COMPUTED = {"bagging-date", "payload-oxum", "bag-size"}


def _bag_info_element(label: str, value: str, given: str) -> tuple[str, str]:
    """One bag-info element checked as RFC 8493 §2.2.2 wants it; ``given`` is how the person
    wrote it, for the message."""
    if not label:
        raise click.BadParameter(f"{given!r}: the label before '=' is empty")
    if label != label.strip() or any(c in label for c in ":\r\n"):
        raise click.BadParameter(
            f"{given!r}: a bag-info label cannot hold ':' or a line break, nor begin or end "
            "with a space (RFC 8493 §2.2.2)"
        )
    if label.lower() in _COMPUTED:
        raise click.BadParameter(f"{given!r}: {label} is computed when the bag is made")
    if not value.strip():
        raise click.BadParameter(f"{given!r}: the value is empty (an unset variable?)")
    if label.lower() == "bag-count":
        m = re.fullmatch(r"([0-9]+) of ([0-9]+|\?)", value)
        if m is None or int(m[1]) < 1 or (m[2] != "?" and int(m[1]) > int(m[2])):
            raise click.BadParameter(
                f"{given!r}: Bag-Count is 'N of T' (this bag's number and the total, "
                "e.g. '2 of 5', or '2 of ?' when the total is unknown)"
            )
    return label, value


def _parse_info(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    elements = []
    for item in values:
        if "=" not in item:
            raise click.BadParameter(
                f"{item!r}: expected LABEL=VALUE, e.g. --info 'Contact-Name=Ann Peeters'"
            )
        label, value = item.split("=", 1)
        elements.append(_bag_info_element(label, value, item))
    return elements


def _parse_tag_files(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, Path]]:
    from preserve.bagit.paths import printable
    from preserve.bagit.writer import tag_file_problem

    found: list[tuple[str, Path]] = []
    for item in values:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(
                f"{item!r}: expected NAME=PATH, e.g. --tag-file aptrust-info.txt=aptrust-info.txt"
            )
        reason = tag_file_problem(name)
        if reason is None and any(name.casefold() == n.casefold() for n, _ in found):
            reason = "given twice"
        if reason is not None:
            raise click.BadParameter(f"{item!r}: tag file {printable(name)}: {reason}")
        if not Path(path).is_file():
            what = "not a regular file" if os.path.lexists(path) else "no such file"
            raise click.BadParameter(f"{item!r}: {path}: {what}")
        found.append((name, Path(path)))
    return found


def _check_named(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        label = dict(BAG_INFO_OPTIONS)[param.name.replace("_", "-") if param.name else ""]
        _bag_info_element(label, value, value)
    return value


def _bag_info_options(f: F) -> F:
    for option, label in reversed(BAG_INFO_OPTIONS):
        f = click.option(
            f"--{option}",
            metavar="TEXT",
            callback=_check_named,
            help=f"{label} in bag-info.txt.",
        )(f)
    return f


@bag.command("make")
@click.argument("src", type=GivenPath(path_type=Path))
@click.argument("dest", type=GivenPath(path_type=Path))
@click.option(
    "--algorithm",
    "algorithms",
    multiple=True,
    help="Manifest algorithm (repeatable): the bag has exactly these payload and tag "
    "manifests (default: sha512 and sha256).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["folder", "zip", "tar", "tar.gz"]),
    help="Write a folder or an archive (default: by the ending of DEST: .zip, .tar, "
    ".tar.gz or .tgz; else a folder).",
)
@click.option(
    "--info",
    "info",
    multiple=True,
    metavar="LABEL=VALUE",
    callback=_parse_info,
    help="An element of bag-info.txt (repeatable; written in the order given).",
)
@click.option(
    "--tag-file",
    "tag_files",
    multiple=True,
    metavar="NAME=PATH",
    callback=_parse_tag_files,
    help="Copy the file PATH into the bag as the tag file NAME (repeatable), e.g. "
    "aptrust-info.txt=info.txt; NAME is a path in the bag outside data/, not one of the "
    "files bag make writes itself.",
)
@_bag_info_options
@click.option("--json", "as_json", is_flag=True, help="Print what was made as JSON.")
def bag_make(
    src: Path,
    dest: Path,
    algorithms: tuple[str, ...],
    fmt: str | None,
    info: list[tuple[str, str]],
    tag_files: list[tuple[str, Path]],
    as_json: bool,
    **named: str | None,
) -> None:
    """Copy the folder SRC into a new BagIt 1.0 bag at DEST (SRC is never changed).

    DEST is a new folder, or a zip or tar file holding one folder named after the bag (as
    bagit-python, BDBag and DART expect): `out.zip` holds `out/bagit.txt`, `out/data/...`.
    An archive is written under a temporary name and renamed once it is complete and read
    back; DEST must not exist.

    The bag has a payload manifest and a tag manifest for each --algorithm, and no other
    (SHA-512 and SHA-256 when none is given); a --tag-file is listed in the tag manifests.
    bag-info.txt starts with Bagging-Date, Payload-Oxum, Bag-Size and Bag-Software-Agent,
    followed by the bag-info options (--source-organization to --bagit-profile-identifier,
    in the order of the list of options below), then the --info elements in the order given.

    \b
    Examples:
      preserve bag make scans/ scans-bag/
      preserve bag make scans/ scans.zip --source-organization "Stadsarchief Gent" \\
          --contact-email archief@example.org --info "Project=Digitisation 2024"
      preserve bag make scans/ transfer.tar.gz --bag-count "1 of 3" --json
      preserve bag make scans/ box-12.tar --algorithm md5 --algorithm sha256 \\
          --tag-file aptrust-info.txt=aptrust-info.txt --source-organization "Stadsarchief Gent"
    """
    from preserve.bagit import make_bag
    from preserve.bagit.paths import printable
    from preserve.bagit.serialise import choose_format, make_bag_file
    from preserve.checksums import bagit_token, is_supported
    from preserve.errors import InvalidInput

    for name in algorithms:
        token = bagit_token(name)
        if not token or not is_supported(token) or token == "crc64nvme":
            raise InvalidInput(
                f"--algorithm {name!r}: not a manifest algorithm preserve can write "
                "(e.g. sha512, sha256, sha1, md5)"
            )
    fmt = choose_format(dest, fmt)
    if not src.is_dir():
        raise InvalidInput(f"{src}: no such folder")
    if fmt == "folder":
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise InvalidInput(f"{dest}: already exists and is not an empty folder")
    elif dest.exists() or dest.is_symlink():
        raise InvalidInput(f"{dest}: already exists")
    algs = tuple(dict.fromkeys(bagit_token(a) for a in algorithms)) or ("sha512", "sha256")
    bag_info = [
        (label, value)
        for option, label in BAG_INFO_OPTIONS
        if (value := named.get(option.replace("-", "_"))) is not None
    ] + info
    archive = None
    if fmt == "folder":
        summary = make_bag(
            src, dest, algorithms=algs, bag_info=bag_info, add_sha512=False, tag_files=tag_files
        )
    else:
        summary, archive = make_bag_file(
            src,
            dest,
            fmt,
            algorithms=algs,
            bag_info=bag_info,
            add_sha512=False,
            tag_files=tag_files,
        )
    for w in summary.warnings:
        # the file as it is in the bag, then what is wrong with it
        warn(f"{printable(w.path)}: {w.message}" if w.path else w.message)
    if as_json:
        emit_json(
            {
                "bag": str(dest),
                "format": fmt,
                "name": dest.name if archive is None else archive.name,
                "files": summary.payload_files,
                "bytes": summary.payload_bytes,
                "algorithms": list(summary.algorithms),
                "archive_bytes": None if archive is None else archive.bytes,
                "bag_info": [{"label": k, "value": v} for k, v in summary.bag_info],
                "warnings": [problem_json(w) for w in summary.warnings],
            }
        )
        return
    packed = "" if archive is None else f" ({fmt} of {human_bytes(archive.bytes)})"
    click.echo(
        f"bag {dest}: {count(summary.payload_files, 'file')}, "
        f"{human_bytes(summary.payload_bytes)}, {' + '.join(summary.algorithms)}{packed}"
    )


@bag.command("validate")
@click.argument("path", type=GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option("--completeness-only", is_flag=True, help="Skip checksums (NOT a validity check).")
@click.option(
    "--profile",
    "profile_name",
    metavar="FILE_OR_NAME",
    help="Check the bag against this BagIt profile too: a local JSON file, or a bundled "
    "profile (preserve-aip, aptrust, btr). Never fetched from the network.",
)
@click.option(
    "--with-earlier-versions",
    "earlier_versions",
    is_flag=True,
    help="PATH is a version folder (v2, v3 ...) of a package on a local storage location: "
    "read the files its fetch.txt names from the earlier version folders beside it.",
)
def bag_validate(
    path: Path,
    as_json: bool,
    completeness_only: bool,
    profile_name: str | None,
    earlier_versions: bool,
) -> None:
    """Validate the bag at PATH; exit 0 if valid, 1 if not. Every problem is listed.

    PATH is a bag folder, or a zip or tar (.zip, .tar, .tar.gz, .tgz; recognised by content)
    holding one, as `preserve bag make` and `preserve export` write them. An archive is
    unpacked safely, with ingest's limits (PRESERVE_MAX_UNPACK_BYTES and _RATIO), into a
    temporary folder under $TMPDIR (/tmp by default; it needs room for the whole bag) that
    is removed afterwards; problems name files as they are in the archive. A folder without
    bagit.txt, a damaged or unsafe archive, or one that does not hold one bag, is an error
    (exit 2).

    With --profile, every breach of the BagIt profile (bagit-profiles 1.1.0 to 1.4.0: required
    tags and values, manifests, tag and payload files, fetch.txt, serialisation, BagIt version,
    BagIt-Profile-Identifier) is listed among the errors with a profile-* code; a profile file
    that is not one is an error (exit 2).

    \b
    Examples:
      preserve bag validate delivery-bag/
      preserve bag validate out/bags/glasplaten.tar.gz
      preserve bag validate delivery.zip --json
      preserve bag validate huge-bag/ --completeness-only   # files present, sums not read
      preserve bag validate deposit.tar --profile btr
      preserve bag validate export/ --profile preserve-aip
      preserve bag validate storage/org/coll/3f2a9c1e-.../v2 --with-earlier-versions
    """
    from preserve.bagit import validate_bag
    from preserve.bagit.profiles import check_profile, resolve_profile, serialisation_type
    from preserve.bagit.serialise import validate_bag_file
    from preserve.config.settings import Settings
    from preserve.errors import InvalidInput

    profile = resolve_profile(profile_name) if profile_name is not None else None
    if path.is_dir():
        if not (path / "bagit.txt").is_file():
            raise InvalidInput(
                f"{path}: not a bag (no bagit.txt); make one with: preserve bag make {path} BAG"
            )
        resolver = None
        if earlier_versions:
            from preserve.bagit.fetch import version_folder_resolver

            resolver = version_folder_resolver(path)
        report = validate_bag(path, completeness_only=completeness_only, resolve_fetch=resolver)
        if profile is not None:
            found = check_profile(path, profile)
            report = dataclasses.replace(report, errors=(*report.errors, *found))
    elif path.is_file():
        settings = Settings.from_env()
        kind = serialisation_type(path)
        report = validate_bag_file(
            path,
            max_total_bytes=settings.max_unpack_bytes,
            max_ratio=settings.max_unpack_ratio,
            completeness_only=completeness_only,
            also=None
            if profile is None
            else lambda root: check_profile(root, profile, serialised=kind),
        ).report
    elif path.exists():
        raise InvalidInput(f"{path}: not a bag folder or a zip/tar archive of one")
    else:
        raise InvalidInput(f"{path}: no such file or folder")
    for w in report.warnings:
        warn(str(w))
    breaches = sum(1 for e in report.errors if e.code.startswith("profile-"))
    if as_json:
        data = report.to_json()
        if profile is not None:
            data["profile"] = {
                "identifier": profile.identifier,
                "version": profile.version,
                "spec_version": profile.spec_version,
                "source": profile.source,
                "conforms": breaches == 0,
                "breaches": breaches,
            }
        emit_json(data)
    else:
        for e in report.errors:
            click.echo(f"error: {e}", err=True)
        verdict = "valid" if report.valid else f"INVALID ({count(len(report.errors), 'error')})"
        if completeness_only and report.valid:
            verdict = "complete (checksums not read: not a validity check)"
        if profile is not None:
            verdict += (
                f"; conforms to profile {profile.title}"
                if not breaches
                else f"; {count(breaches, 'breach', 'breaches')} of profile {profile.title}"
            )
        click.echo(f"{path}: {verdict}")
    if not report.valid:
        sys.exit(1)


@bag.command("profile")
@click.argument("name", required=False, default="preserve-aip", metavar="[NAME]")
@click.option(
    "--output",
    type=GivenPath(path_type=Path),
    metavar="FILE",
    help="Write the profile to FILE (a new file) instead of printing it.",
)
def bag_profile(name: str, output: Path | None) -> None:
    """Print a bundled BagIt profile (JSON): preserve-aip (the default: the profile preserve's
    own AIPs follow and declare in bag-info.txt), aptrust (APTrust 2.2) or btr (Beyond the
    Repository 1.0).

    \b
    Examples:
      preserve bag profile
      preserve bag profile btr --output btr-profile.json
    """
    from preserve.bagit.profiles import bundled_text
    from preserve.errors import InvalidInput

    text = bundled_text(name)
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    created = False
    try:
        with open(output, "x", encoding="utf-8") as f:  # never replaces a file
            created = True
            f.write(text)
    except FileExistsError:
        raise InvalidInput(f"{output}: already exists") from None
    except BaseException as exc:  # nothing half-written stays behind
        if created:
            with contextlib.suppress(OSError):
                os.unlink(output)
        if isinstance(exc, OSError):
            raise InvalidInput(f"{output}: cannot be written: {exc.strerror or exc}") from None
        raise
    note(f"profile {name} written to {output}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON lines).")
@click.option("--describe", is_flag=True, help="Add libmagic's description of each file.")
def identify(paths: tuple[Path, ...], as_json: bool, describe: bool) -> None:
    """Identify the format of each file and check it as ingest does.

    PRONOM PUID via siegfried; MIME type from PRONOM, or from libmagic where PRONOM has none,
    with the character set of text files; image properties (Pillow). Folders are searched
    recursively (links are not followed).

    \b
    Problems, shown under each file (text) or in "problems" (--json), are those
    ingest records: empty-file, format-unknown, identification-warning,
    image-incomplete (an image that does not decode completely).

    \b
    Exit codes: 0 when every file was identified, also when problems were
    found (they are warnings: ingest stores such files and records them);
    2 when a PATH does not exist or a file cannot be read.

    \b
    Examples:
      preserve identify photos-1923
      preserve identify scan-001.tif notes.txt --json
    """
    from preserve.errors import InvalidInput
    from preserve.formats.checks import check_files
    from preserve.formats.mediatypes import media_type

    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink()))
        elif p.is_file():
            found.append(p)
        else:
            raise InvalidInput(f"{p}: no such file or folder")
    # A file given twice (deliv/* deliv/sub/*, or a folder and a file in it) is identified
    # once, where it was first given.
    first_given: dict[Path, Path] = {}
    for f in found:
        first_given.setdefault(f.resolve(), f)
    files = list(first_given.values())
    checked = check_files(files, workers=os.cpu_count() or 1, describe=describe)
    for c in checked:
        info = c.format
        if as_json:
            record: dict[str, Any] = {
                "path": str(c.path),
                "puid": info.puid,
                "mime": info.mime,
                "mime_source": info.mime_source,
                "charset": info.charset,
                "format_name": info.format_name,
                "format_version": info.format_version,
                "basis": info.basis,
                "warnings": list(info.warnings),
                "image": as_dict(c.image) if c.image else None,
                "problems": [problem_json(p) for p in c.problems],
            }
            if describe:
                record["description"] = info.magic_description
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            name = f"{info.format_name} {info.format_version}".strip()
            extra = f"\t{info.magic_description}" if describe else ""
            click.echo(f"{c.path}\t{info.puid}\t{media_type(info)}\t{name}{extra}")
            for problem in c.problems:
                click.echo(f"  problem: {problem.message} [{problem.code}]")
    with_problems = sum(1 for c in checked if c.problems)
    if not as_json:
        note(
            f"{count(len(checked), 'file')} identified"
            + (f", {count(with_problems, 'file')} with problems" if with_problems else "")
            + (", no problems" if checked and not with_problems else "")
        )
