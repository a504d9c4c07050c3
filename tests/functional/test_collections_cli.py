"""preserve collections add|edit|list through the real command line, on SQLite and PostgreSQL:
unknown names are errors with "did you mean ...?", never new organisations; --exist-ok says
when the options differ; a collection changes with `collections edit`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli import Repo


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    """A repository with organisation 'meemoo', locations 'default' and 'second', and collection
    'photos' of the default organisation."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    r.run("organisations", "add", "meemoo", "--name", "meemoo")
    r.run("locations", "add", "second", (tmp_path / "second").as_uri())
    r.run("collections", "add", "photos", "--title", "Photographs")
    return r


def collections(repo: Repo) -> list[tuple[str, str, str, list[str]]]:
    return [
        (c["organisation"], c["slug"], c["title"], c["locations"])
        for c in repo.json("collections", "list")
    ]


def test_list_aligned_with_headers(repo: Repo) -> None:
    repo.run("collections", "add", "films", "--organisation", "meemoo", "--location", "second")
    assert repo.run("collections", "list").stdout.splitlines() == [
        "COLLECTION      PACKAGES  LOCATIONS  TITLE",
        "default/photos         0  default    Photographs",
        "meemoo/films           0  second     films",
    ]
    assert repo.run("collections", "list", "--organisation", "meemoo").stdout.splitlines() == [
        "COLLECTION    PACKAGES  LOCATIONS  TITLE",
        "meemoo/films         0  second     films",
    ]


def test_list_says_when_there_are_none(tmp_path: Path, database_url: str) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    assert repo.run("collections", "list").stdout == (
        "no collections (add one with: preserve collections add SLUG)\n"
    )
    assert repo.json("collections", "list") == []
    repo.run("organisations", "add", "kbr", "--name", "KBR")
    assert repo.run("collections", "list", "--organisation", "kbr").stdout == (
        "no collections in organisation kbr (add one with: preserve collections add SLUG)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("add", "films", "--organisation", "mememoo"),
            "error: no organisation 'mememoo'; did you mean 'meemoo'?",
        ),
        (
            ("add", "films", "--organisation", "nobody"),
            "error: no organisation 'nobody' (the organisations: default, meemoo)",
        ),
        (
            ("list", "--organisation", "meemo"),
            "error: no organisation 'meemo'; did you mean 'meemoo'?",
        ),
        (
            ("add", "films", "--location", "secnod"),
            "error: no storage location 'secnod'; did you mean 'second'?",
        ),
        (
            ("edit", "fotos", "--title", "x"),
            "error: no collection 'fotos' in organisation 'default'; did you mean 'photos'?",
        ),
        (
            ("edit", "photos", "--organisation", "meemoo", "--title", "x"),
            "error: no collection 'photos' in organisation 'meemoo'; it exists in default: add "
            "--organisation default",
        ),
        (
            ("edit", "films", "--organisation", "meemoo", "--title", "x"),
            "error: no collection 'films' in organisation 'meemoo' (there is no collection in "
            "organisation 'meemoo' yet)",
        ),
        (
            ("edit", "photos", "--add-location", "secnod"),
            "error: no storage location 'secnod'; did you mean 'second'?",
        ),
    ],
)
def test_unknown_names(repo: Repo, args: tuple[str, ...], message: str) -> None:
    before = (collections(repo), repo.json("organisations", "list"))
    result = repo.run("collections", *args, ok=False)
    assert (result.exit_code, result.stderr) == (3, message + "\n")
    assert (collections(repo), repo.json("organisations", "list")) == before  # nothing made


def test_exist_ok_with_the_same_options_succeeds(repo: Repo) -> None:
    result = repo.run("collections", "add", "photos", "--exist-ok")
    assert result.stdout == "collection default/photos on default\n"
    same = repo.run(
        "collections", "add", "photos", "--title", "Photographs", "--location", "default",
        "--exist-ok",
    )  # fmt: skip
    assert same.exit_code == 0


def test_exist_ok_with_other_options_fails_and_says_which(repo: Repo) -> None:
    result = repo.run(
        "collections", "add", "photos", "--title", "Foto's", "--location", "second",
        "--exist-ok", ok=False,
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (
        1,
        "error: collection 'photos' exists in organisation 'default' with other options: "
        "title is 'Photographs', not \"Foto's\"; locations are default, not second; change it "
        "with: preserve collections edit photos\n",
    )
    assert collections(repo) == [("default", "photos", "Photographs", ["default"])]


def test_exist_ok_in_another_organisation_names_it(repo: Repo) -> None:
    repo.run("collections", "add", "films", "--organisation", "meemoo")
    result = repo.run(
        "collections", "add", "films", "--organisation", "meemoo", "--description", "Reels",
        "--exist-ok", ok=False,
    )  # fmt: skip
    assert result.stderr == (
        "error: collection 'films' exists in organisation 'meemoo' with other options: "
        "description is '', not 'Reels'; change it with: preserve collections edit films "
        "--organisation meemoo\n"
    )


def test_add_existing_without_exist_ok(repo: Repo) -> None:
    result = repo.run("collections", "add", "photos", ok=False)
    assert (result.exit_code, result.stderr) == (
        1,
        "error: collection 'photos' already exists in organisation 'default' (change it with: "
        "preserve collections edit photos)\n",
    )


def test_edit_title_and_description(repo: Repo) -> None:
    result = repo.run(
        "collections", "edit", "photos", "--title", "Foto's", "--description", "Glass plates"
    )
    assert result.stdout.splitlines() == [
        "collection default/photos: title 'Photographs' -> \"Foto's\"",
        "collection default/photos: description (empty) -> 'Glass plates'",
    ]
    shown = repo.json("collections", "list")[0]
    assert (shown["title"], shown["description"]) == ("Foto's", "Glass plates")


def test_edit_locations(repo: Repo) -> None:
    added = repo.run("collections", "edit", "photos", "--add-location", "second")
    assert added.stdout.splitlines() == [
        "collection default/photos: locations 'default' -> 'default, second'",
        "new ingests into photos are stored on default, second",
        "no package of photos to replicate to second",
    ]
    moved = repo.run("collections", "edit", "photos", "--remove-location", "default")
    assert moved.stdout.splitlines()[0] == (
        "collection default/photos: locations 'default, second' -> 'second'"
    )
    assert collections(repo) == [("default", "photos", "Photographs", ["second"])]
    same = repo.run("collections", "edit", "photos", "--add-location", "second")
    assert same.stdout == (
        "collection default/photos: nothing changed (the values given are the current ones)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--remove-location", "default"),
            "error: location 'default' is the last location of collection 'photos': a "
            "collection needs at least one (add another first)",
        ),
        (
            ("--remove-location", "second"),
            "error: collection 'photos' is not stored on location 'second' (its locations: "
            "default)",
        ),
        (
            ("--add-location", "second", "--remove-location", "second"),
            "error: location 'second' is both added and removed",
        ),
        (
            (),
            "error: nothing to change: give at least one of --title, --description, "
            "--add-location, --remove-location, --profile, --no-profile",
        ),
        (("--title", " "), "error: the collection's title (--title) is empty"),
    ],
)
def test_edit_bad_input(repo: Repo, args: tuple[str, ...], message: str) -> None:
    result = repo.run("collections", "edit", "photos", *args, ok=False)
    assert (result.exit_code, result.stderr) == (2, message + "\n")
    assert collections(repo) == [("default", "photos", "Photographs", ["default"])]


def test_the_fix_hint_names_the_organisation_given(repo: Repo) -> None:
    """Also when it is PRESERVE_ORGANISATION's: the suggested command works wherever it is run
    (issue 8, new-user trial)."""
    repo.run("collections", "add", "fotos", "--organisation", "meemoo")
    hint = "change it with: preserve collections edit fotos --organisation meemoo"
    for env in ({}, {"PRESERVE_ORGANISATION": "meemoo"}):
        repo.extra_env.update(env)
        for args in (("--organisation", "meemoo"), ()) if env else (("--organisation", "meemoo"),):
            differs = repo.run(
                "collections", "add", "fotos", *args, "--title", "Foto's", "--exist-ok", ok=False
            )
            assert (differs.exit_code, differs.stderr) == (
                1,
                "error: collection 'fotos' exists in organisation 'meemoo' with other options: "
                f"title is 'fotos', not \"Foto's\"; {hint}\n",
            )
            exists = repo.run("collections", "add", "fotos", *args, ok=False)
            assert (exists.exit_code, exists.stderr) == (
                1,
                f"error: collection 'fotos' already exists in organisation 'meemoo' ({hint})\n",
            )
    repo.extra_env.pop("PRESERVE_ORGANISATION")
    # and the suggested command does what it says
    repo.run("collections", "edit", "fotos", "--organisation", "meemoo", "--title", "Foto's")


def test_the_default_organisation_given_by_name_is_named_too(repo: Repo) -> None:
    result = repo.run(
        "collections", "add", "photos", "--organisation", "default", "--title", "x",
        "--exist-ok", ok=False,
    )  # fmt: skip
    assert result.stderr.endswith(
        "; change it with: preserve collections edit photos --organisation default\n"
    )


def test_a_collection_of_another_organisation_is_pointed_at(repo: Repo) -> None:
    repo.run("organisations", "add", "stadsarchief-gent", "--name", "Stadsarchief Gent")
    repo.run("collections", "add", "teksten", "--organisation", "stadsarchief-gent")
    result = repo.run("collections", "edit", "teksten", "--title", "x", ok=False)
    assert (result.exit_code, result.stderr) == (
        3,
        "error: no collection 'teksten' in organisation 'default'; it exists in "
        "stadsarchief-gent: add --organisation stadsarchief-gent\n",
    )
    repo.run("collections", "add", "teksten", "--organisation", "meemoo")
    several = repo.run("collections", "edit", "teksten", "--title", "x", ok=False)
    assert (several.exit_code, several.stderr) == (
        3,
        "error: no collection 'teksten' in organisation 'default'; it exists in meemoo and "
        "stadsarchief-gent: add --organisation with one of them\n",
    )
    assert [c[2] for c in collections(repo) if c[1] == "teksten"] == ["teksten", "teksten"]


def test_ingest_points_at_the_organisation_of_the_collection(repo: Repo, tmp_path: Path) -> None:
    repo.run("organisations", "add", "stadsarchief-gent", "--name", "Stadsarchief Gent")
    repo.run("collections", "add", "teksten", "--organisation", "stadsarchief-gent")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "brief.txt").write_text("Beste,\n")
    result = repo.run("ingest", delivery, "--collection", "teksten", ok=False)
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr.endswith(
        "error: no collection 'teksten' in organisation 'default'; it exists in "
        "stadsarchief-gent: add --organisation stadsarchief-gent\n"
    )
    assert repo.packages() == []
    repo.run("ingest", delivery, "--collection", "teksten", "--organisation", "stadsarchief-gent")
    assert len(repo.packages()) == 1


def test_locations_list_aligned_with_headers(repo: Repo, tmp_path: Path) -> None:
    repo.run(
        "locations", "add", "tape", (tmp_path / "tape").as_uri(), "--region", "eu-west",
        "--storage-type", "tape", "--offline",
    )  # fmt: skip
    home, second, tape = ((tmp_path / name).as_uri() for name in ("home/storage", "second", "tape"))
    assert repo.run("locations", "list").stdout.splitlines() == [
        "NAME     PROVIDER  REGION   TYPE        FLAGS    URL",
        f"default  local     -        filesystem  default  {home}",
        f"second   local     -        filesystem  -        {second}",
        f"tape     local     eu-west  tape        offline  {tape}",
    ]
    assert [loc["name"] for loc in repo.json("locations", "list")] == ["default", "second", "tape"]


def test_locations_list_says_when_there_are_none(tmp_path: Path, database_url: str) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("db", "upgrade")  # a catalogue without the default location of `init`
    assert repo.run("locations", "list").stdout == (
        "no locations (add one with: preserve locations add NAME URL)\n"
    )
    assert repo.json("locations", "list") == []
