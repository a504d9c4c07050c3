"""Helpers to drive the real `preserve` command line against a throw-away repository."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from preserve.cli import cli


@dataclass
class Repo:
    """A preserve home with its own catalogue and default local location, driven through the CLI."""

    home: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            "PRESERVE_HOME": str(self.home),
            "PRESERVE_DATABASE_URL": self.database_url,
            "PRESERVE_STORAGE_RETRIES": "2",
            "PRESERVE_STORAGE_BACKOFF": "0.01",
            "PRESERVE_WORKERS": "2",
            **self.extra_env,
        }

    @property
    def storage_root(self) -> Path:
        return self.home / "storage"

    def run(self, *args: str | Path, ok: bool = True) -> Result:
        result = CliRunner().invoke(
            cli, [str(a) for a in args], env=self.env, catch_exceptions=False
        )
        if ok:
            assert result.exit_code == 0, (
                f"preserve {' '.join(map(str, args))} exited {result.exit_code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def json(self, *args: str | Path, ok: bool = True) -> Any:
        return json.loads(self.run(*args, "--json", ok=ok).stdout)

    def packages(self) -> list[dict[str, Any]]:
        return json.loads(self.run("packages", "list", "--json").stdout)

    def stored_keys(self, descriptors: bool = False) -> list[str]:
        """The objects on the default location; the descriptors of the organisations and
        collections beside the packages (``_organisation.json``, ``_collection.json``) only
        with ``descriptors``."""
        root = self.storage_root
        if not root.exists():
            return []
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file()
            and ".preserve-tmp" not in p.parts
            and (descriptors or p.name not in ("_organisation.json", "_collection.json"))
        )

    def staging_entries(self) -> list[Path]:
        staging = self.home / "staging"
        return sorted(staging.iterdir()) if staging.exists() else []


AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def two_location_package(repo: Repo, delivery: Path, second_url: str) -> dict[str, Any]:
    """Register ``second_url`` as location 'second', make collection 'photos' on 'default' and
    'second', ingest a delivery of two random files and a note there; returns the ingest's
    package result."""
    repo.extra_env.update({k: os.environ[k] for k in AWS_VARS if k in os.environ})
    repo.run("init")
    repo.run("locations", "add", "second", second_url)
    repo.run("collections", "add", "photos", "--location", "default", "--location", "second")
    delivery.mkdir()
    (delivery / "a.bin").write_bytes(os.urandom(200_000))
    (delivery / "b.bin").write_bytes(os.urandom(150_000))
    (delivery / "note.txt").write_text("a note\n")
    package: dict[str, Any] = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]
    return package
