"""fixity spread over time by hand: --older-than DURATION, --limit N (least recently checked
first), --location NAME, and --organisation with or without --all; combined with --all,
--collection and --package. Nothing due is said and exits 0; bad values are refused. On SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from preserve.catalogue.database import make_engine
from tests.functional.cli import Repo
from tests.functional.test_find_packages import new_catalogue

NOW = datetime.now(UTC)
#: when each copy was last checked: photos 1 on default and second, photos 2 on default and
#: second, paintings on default (None: never)
LAST_CHECKED: dict[tuple[str, str], datetime | None] = {
    ("photos-1", "default"): None,
    ("photos-1", "second"): NOW - timedelta(days=100),
    ("photos-2", "default"): NOW - timedelta(days=40),
    ("photos-2", "second"): NOW - timedelta(days=10),
    ("paintings", "default"): NOW - timedelta(hours=1),
}


@pytest.fixture
def stored(tmp_path: Path, database_url: str) -> Iterator[tuple[Repo, dict[str, str]]]:
    """Five copies of three packages in two organisations, last checked as LAST_CHECKED says;
    returns the repository and the package ids by name."""
    with new_catalogue(tmp_path, database_url) as catalogue:
        repo = catalogue.repo
        repo.run("locations", "add", "second", (tmp_path / "second").as_uri())
        repo.run("collections", "add", "albums", "--location", "default", "--location", "second")
        catalogue.organisation("museum")
        repo.run("collections", "add", "paintings", "--organisation", "museum")
        ids = {}
        for name, collection, org in (
            ("photos-1", "albums", "default"),
            ("photos-2", "albums", "default"),
            ("paintings", "paintings", "museum"),
        ):
            delivery = tmp_path / name
            delivery.mkdir()
            (delivery / "a.txt").write_text(f"{name}\n")
            result = repo.json(
                "ingest", delivery, "--collection", collection, "--organisation", org
            )
            ids[name] = result["packages"][0]["package_id"]
        engine = make_engine(database_url, create=False)
        try:
            with engine.begin() as conn:
                for (name, location), when in LAST_CHECKED.items():
                    conn.execute(
                        text(
                            "UPDATE copies SET last_checked_at = :when WHERE package_id = :p "
                            "AND location_id = (SELECT id FROM storage_locations WHERE name = :l)"
                        ),
                        {
                            "when": _stored_time(when, engine.dialect.name),
                            "p": ids[name],
                            "l": location,
                        },
                    )
        finally:
            engine.dispose()
        yield repo, ids


def _stored_time(when: datetime | None, dialect: str) -> Any:
    if when is None or dialect != "sqlite":
        return when
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as models.UTCDateTime


def checked(repo: Repo, ids: dict[str, str], *args: str) -> list[tuple[str, str]]:
    """(package name, location) of each copy checked, in the order checked."""
    names = {v: k for k, v in ids.items()}
    report = repo.json("fixity", *args)
    assert report["ok"] is True
    return [(names[c["package_id"]], c["location"]) for c in report["copies"]]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--all", "--older-than", "30d"),
            [("photos-1", "default"), ("photos-1", "second"), ("photos-2", "default")],
        ),
        (("--all", "--older-than", "6w"), [("photos-1", "default"), ("photos-1", "second")]),
        (
            ("--all", "--older-than", "90m"),
            [
                ("photos-1", "default"),
                ("photos-1", "second"),
                ("photos-2", "default"),
                ("photos-2", "second"),
            ],
        ),
        (("--all", "--older-than", "30m"), list(LAST_CHECKED)),
        (("--all", "--limit", "2"), [("photos-1", "default"), ("photos-1", "second")]),
        (
            ("--all", "--limit", "3", "--location", "default"),
            [("photos-1", "default"), ("photos-2", "default"), ("paintings", "default")],
        ),
        (("--all", "--older-than", "30d", "--limit", "1"), [("photos-1", "default")]),
        (("--all", "--location", "second"), [("photos-1", "second"), ("photos-2", "second")]),
        (("--organisation", "museum"), [("paintings", "default")]),
        (("--organisation", "museum", "--all"), [("paintings", "default")]),
        (
            ("--organisation", "default", "--all", "--older-than", "1d", "--location", "second"),
            [("photos-1", "second"), ("photos-2", "second")],
        ),
        (
            ("--collection", "albums", "--older-than", "50d"),
            [("photos-1", "default"), ("photos-1", "second")],
        ),
        (("--collection", "paintings", "--organisation", "museum", "--older-than", "2h"), []),
        (
            ("--collection", "paintings", "--organisation", "museum", "--older-than", "59m"),
            [("paintings", "default")],
        ),
    ],
)
def test_selection(
    stored: tuple[Repo, dict[str, str]], args: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    repo, ids = stored
    assert checked(repo, ids, *args) == expected


def test_package_with_location_and_age(stored: tuple[Repo, dict[str, str]]) -> None:
    repo, ids = stored
    one = ids["photos-2"]
    assert checked(repo, ids, "--package", one, "--location", "second") == [("photos-2", "second")]
    assert checked(repo, ids, "--package", one[:8], "--older-than", "20d") == [
        ("photos-2", "default")
    ]


def test_a_run_spread_over_time_ends_with_nothing_due(
    stored: tuple[Repo, dict[str, str]],
) -> None:
    repo, ids = stored
    first = checked(repo, ids, "--all", "--older-than", "5d", "--limit", "2")
    second = checked(repo, ids, "--all", "--older-than", "5d", "--limit", "2")
    assert first + second == list(LAST_CHECKED)[:4]  # each due copy once, the oldest first
    result = repo.run("fixity", "--all", "--older-than", "5d", "--limit", "2")
    assert (result.exit_code, result.stdout) == (0, "no copies due for checking\n")
    assert repo.json("fixity", "--all", "--older-than", "5d") == {"ok": True, "copies": []}


def test_text_output_names_each_copy(stored: tuple[Repo, dict[str, str]]) -> None:
    repo, ids = stored
    out = repo.run("fixity", "--all", "--limit", "1").stdout
    assert out.startswith(f"ok       {ids['photos-1']} on default: ")


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ("--all", "--older-than", "30"),
            "error: --older-than '30' is not a duration: give a number and a unit, such as 30d "
            "(days), 12h (hours), 90m (minutes) or 2w (weeks)\n",
            2,
        ),
        (
            ("--all", "--older-than", "1 month"),
            "error: --older-than '1 month' is not a duration: give a number and a unit, such as "
            "30d (days), 12h (hours), 90m (minutes) or 2w (weeks)\n",
            2,
        ),
        (
            ("--all", "--older-than", "-3d"),
            "error: --older-than '-3d' is not a duration: give a number and a unit, such as 30d "
            "(days), 12h (hours), 90m (minutes) or 2w (weeks)\n",
            2,
        ),
        (
            ("--all", "--older-than", "99999999999w"),
            "error: --older-than '99999999999w' is too long: at most 1000 years (52000w)\n",
            2,
        ),
        (
            ("--all", "--location", "secnod"),
            "error: no location 'secnod'; did you mean 'second'?\n",
            3,
        ),
        (
            ("--organisation", "musuem"),
            "error: no organisation 'musuem'; did you mean 'museum'?\n",
            3,
        ),
        (
            ("--all", "--organisation", "nobody"),
            "error: no organisation 'nobody' (the organisations: default, museum)\n",
            3,
        ),
        (
            ("--collection", "albums", "--organisation", "musem"),
            "error: no organisation 'musem'; did you mean 'museum'?\n",
            3,
        ),
        (
            ("--collection", "albms"),
            "error: no collection 'albms' in organisation 'default'; did you mean 'albums'?\n",
            3,
        ),
        (
            ("--package", "photos-1", "--organisation", "museum"),
            "error: --organisation chooses packages with --all or --collection; --package names "
            "one package already\n",
            2,
        ),
        (
            ("--older-than", "30d"),
            "error: give exactly one of --package PACKAGE, --collection SLUG, --organisation SLUG "
            "or --all\n",
            2,
        ),
        (
            ("--all", "--collection", "albums"),
            "error: give exactly one of --package PACKAGE, --collection SLUG, --organisation SLUG "
            "or --all\n",
            2,
        ),
    ],
)
def test_bad_selections_are_refused(
    stored: tuple[Repo, dict[str, str]], args: tuple[str, ...], message: str, code: int
) -> None:
    repo, _ids = stored
    result = repo.run("fixity", *args, ok=False)
    assert (result.exit_code, result.stderr, result.stdout) == (code, message, "")


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_bad_limit_is_refused(stored: tuple[Repo, dict[str, str]], limit: str) -> None:
    repo, _ids = stored
    result = repo.run("fixity", "--all", "--limit", limit, ok=False)
    assert result.exit_code == 2
    assert "Invalid value for '--limit'" in result.stderr
    assert result.stdout == ""
