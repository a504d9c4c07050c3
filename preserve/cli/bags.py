"""Bags and formats: bag make, bag validate, identify."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from preserve.cli.base import GivenPath, cli
from preserve.cli.output import emit_json, human_bytes


@cli.group()
def bag() -> None:
    """Make and validate BagIt bags (RFC 8493)."""


@bag.command("make")
@click.argument("src", type=GivenPath(path_type=Path))
@click.argument("dest", type=GivenPath(path_type=Path))
@click.option("--algorithm", "algorithms", multiple=True, help="Manifest algorithm (repeatable).")
def bag_make(src: Path, dest: Path, algorithms: tuple[str, ...]) -> None:
    """Copy the folder SRC into a new BagIt 1.0 bag at DEST (SRC is never changed)."""
    from preserve.bagit import make_bag
    from preserve.errors import InvalidInput

    if not src.is_dir():
        raise InvalidInput(f"{src}: no such folder")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(f"{dest}: already exists and is not an empty folder")
    algs = tuple(dict.fromkeys(("sha512", *algorithms))) if algorithms else ("sha512", "sha256")
    summary = make_bag(src, dest, algorithms=algs)
    click.echo(
        f"bag {summary.path}: {summary.payload_files} files, "
        f"{human_bytes(summary.payload_bytes)}, {', '.join(summary.algorithms)}"
    )


@bag.command("validate")
@click.argument("path", type=GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option("--completeness-only", is_flag=True, help="Skip checksums (NOT a validity check).")
def bag_validate(path: Path, as_json: bool, completeness_only: bool) -> None:
    """Validate the bag at PATH; exit 0 if valid, 1 if not. Every problem is listed."""
    from preserve.bagit import validate_bag
    from preserve.errors import InvalidInput

    if not path.is_dir():
        raise InvalidInput(f"{path}: no such folder")
    report = validate_bag(path, completeness_only=completeness_only)
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        emit_json(report.to_json())
    else:
        for e in report.errors:
            click.echo(f"error: {e}", err=True)
        verdict = "valid" if report.valid else f"INVALID ({len(report.errors)} errors)"
        click.echo(f"{path}: {verdict}")
    if not report.valid:
        sys.exit(1)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON lines).")
@click.option("--describe", is_flag=True, help="Add libmagic's description of each file.")
def identify(paths: tuple[Path, ...], as_json: bool, describe: bool) -> None:
    """Identify the format of each file: PRONOM PUID via siegfried; MIME type from PRONOM, or
    from libmagic where PRONOM has none; character set of text files."""
    from preserve.errors import InvalidInput
    from preserve.formats import identify_files

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink()))
        elif p.is_file():
            files.append(p)
        else:
            raise InvalidInput(f"{p}: no such file or folder")
    infos = identify_files(files, workers=os.cpu_count() or 1, describe=describe)
    for path, info in zip(files, infos, strict=True):
        record: dict[str, Any] = {
            "path": str(path),
            "puid": info.puid,
            "mime": info.mime,
            "mime_source": info.mime_source,
            "charset": info.charset,
            "format_name": info.format_name,
            "format_version": info.format_version,
            "basis": info.basis,
            "warnings": list(info.warnings),
        }
        if describe:
            record["description"] = info.magic_description
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            name = f"{info.format_name} {info.format_version}".strip()
            mime = f"{info.mime}; charset={info.charset}" if info.charset else info.mime
            extra = f"\t{info.magic_description}" if describe else ""
            click.echo(f"{path}\t{info.puid}\t{mime}\t{name}{extra}")
