"""preserve organisations add|list|show|edit through the real command line, on SQLite and
PostgreSQL: organisations are created explicitly, with a full name, address and contact."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli import Repo

FULL_NAME = "meemoo, Vlaams Instituut voor het Archief"


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    """A new repository (its default organisation and location) on SQLite or PostgreSQL."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    return r


def add_meemoo(repo: Repo) -> None:
    result = repo.run(
        "organisations",
        "add",
        "meemoo",
        "--name",
        FULL_NAME,
        "--address",
        "Kunstlaan 1, 1000 Brussel",
        "--contact-name",
        "An Peeters",
        "--contact-email",
        "archief@meemoo.be",
    )
    assert result.stdout == f"organisation meemoo: {FULL_NAME}\n"


def test_init_creates_the_default_organisation(repo: Repo) -> None:
    assert [o["slug"] for o in repo.json("organisations", "list")] == ["default"]
    repo.run("init")  # again: kept, not doubled
    assert [o["slug"] for o in repo.json("organisations", "list")] == ["default"]


def test_add_then_list_aligned_with_headers(repo: Repo) -> None:
    add_meemoo(repo)
    repo.run("collections", "add", "photos", "--organisation", "meemoo")
    repo.run("collections", "add", "films", "--organisation", "meemoo")
    lines = repo.run("organisations", "list").stdout.splitlines()
    assert lines == [
        "ORGANISATION  COLLECTIONS  PACKAGES  NAME" + " " * (len(FULL_NAME) - 2) + "CONTACT",
        "default                 0         0  default",
        "meemoo                  2         0  " + FULL_NAME + "  An Peeters <archief@meemoo.be>",
    ]
    listed = repo.json("organisations", "list")
    assert listed[1] == {
        "slug": "meemoo",
        "name": FULL_NAME,
        "address": "Kunstlaan 1, 1000 Brussel",
        "contact_name": "An Peeters",
        "contact_email": "archief@meemoo.be",
        "collections": 2,
        "packages": 0,
    }


def test_show_gives_details_and_collections(repo: Repo) -> None:
    add_meemoo(repo)
    repo.run("collections", "add", "photos", "--organisation", "meemoo", "--title", "Photographs")
    assert repo.run("organisations", "show", "meemoo").stdout.splitlines() == [
        "organisation  meemoo",
        f"name          {FULL_NAME}",
        "address       Kunstlaan 1, 1000 Brussel",
        "contact       An Peeters",
        "e-mail        archief@meemoo.be",
        "holds         1 collection, 0 stored packages",
        "",
        "COLLECTION     PACKAGES  LOCATIONS  TITLE",
        "meemoo/photos         0  default    Photographs",
    ]
    shown = repo.json("organisations", "show", "meemoo")
    assert shown["organisation"]["name"] == FULL_NAME
    assert [(c["slug"], c["packages"], c["locations"]) for c in shown["collections"]] == [
        ("photos", 0, ["default"])
    ]


def test_show_without_address_or_contact(repo: Repo) -> None:
    repo.run("organisations", "add", "kbr", "--name", "KBR")
    out = repo.run("organisations", "show", "kbr").stdout.splitlines()
    assert out[2:6] == [
        "address       -",
        "contact       -",
        "e-mail        -",
        "holds         0 collections, 0 stored packages",
    ]


def test_edit_says_what_changed(repo: Repo) -> None:
    add_meemoo(repo)
    result = repo.run(
        "organisations", "edit", "meemoo", "--contact-name", "Jan Janssens", "--address", ""
    )
    assert result.stdout.splitlines() == [
        "organisation meemoo: address 'Kunstlaan 1, 1000 Brussel' -> (empty)",
        "organisation meemoo: contact name 'An Peeters' -> 'Jan Janssens'",
        "packages stored already keep their bag-info.txt; new ingests use the new values",
    ]
    shown = repo.json("organisations", "show", "meemoo")["organisation"]
    assert (shown["contact_name"], shown["address"]) == ("Jan Janssens", "")
    again = repo.run("organisations", "edit", "meemoo", "--contact-name", "Jan Janssens")
    assert again.stdout == (
        "organisation meemoo: nothing changed (the values given are the current ones)\n"
    )


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ("add", "default", "--name", "Other"),
            "error: organisation 'default' already exists (change it with: preserve "
            "organisations edit default)",
            1,
        ),
        (
            ("add", "Meemoo!", "--name", "M"),
            "error: organisation 'Meemoo!' is not a valid identifier: use lower-case letters, "
            "digits, '.', '_' or '-' (at most 63 characters, starting with a letter or digit)",
            2,
        ),
        (
            ("add", "x", "--name", "X", "--contact-email", "archief at meemoo.be"),
            "error: contact e-mail 'archief at meemoo.be' is not an e-mail address (one '@', "
            "no spaces, e.g. archive@example.org)",
            2,
        ),
        (
            ("add", "x", "--name", "X", "--contact-email", "a@b@meemoo.be"),
            "error: contact e-mail 'a@b@meemoo.be' is not an e-mail address (one '@', "
            "no spaces, e.g. archive@example.org)",
            2,
        ),
        (
            ("add", "x", "--name", "default"),
            "error: organisation 'default' already has the full name 'default'; choose a "
            "distinct name",
            1,
        ),
        (
            ("edit", "default"),
            "error: nothing to change: give at least one of --name, --address, "
            "--contact-name, --contact-email",
            2,
        ),
        (
            ("edit", "defualt", "--name", "D"),
            "error: no organisation 'defualt'; did you mean 'default'?",
            3,
        ),
        (
            ("show", "nobody"),
            "error: no organisation 'nobody' (the organisation: default)",
            3,
        ),
        (
            ("edit", "default", "--contact-email", "no-at-sign"),
            "error: contact e-mail 'no-at-sign' is not an e-mail address (one '@', no spaces, "
            "e.g. archive@example.org)",
            2,
        ),
    ],
)
def test_bad_input(repo: Repo, args: tuple[str, ...], message: str, code: int) -> None:
    before = repo.json("organisations", "list")
    result = repo.run("organisations", *args, ok=False)
    assert (result.exit_code, result.stderr) == (code, message + "\n")
    assert repo.json("organisations", "list") == before  # nothing changed


def test_name_is_required_and_not_empty(repo: Repo) -> None:
    missing = repo.run("organisations", "add", "x", ok=False)
    assert missing.exit_code == 2
    assert "Missing option '--name'" in missing.stderr
    empty = repo.run("organisations", "add", "x", "--name", " ", ok=False)
    assert empty.exit_code == 2
    assert "an empty value was given" in empty.stderr
    assert [o["slug"] for o in repo.json("organisations", "list")] == ["default"]


def test_add_exist_ok_with_the_same_values_succeeds(repo: Repo) -> None:
    add_meemoo(repo)
    before = repo.json("organisations", "list")
    for extra in (
        (),
        ("--contact-email", "archief@meemoo.be", "--address", " Kunstlaan 1, 1000 Brussel"),
    ):
        result = repo.run(
            "organisations", "add", "meemoo", "--name", FULL_NAME, *extra, "--exist-ok"
        )
        assert (result.exit_code, result.stdout) == (
            0,
            "organisation meemoo exists already with these details\n",
        )
    assert repo.json("organisations", "list") == before
    new = repo.run("organisations", "add", "kbr", "--name", "KBR", "--exist-ok")
    assert new.stdout == "organisation kbr: KBR\n"  # a new one is made as without --exist-ok


def test_add_exist_ok_with_other_values_names_each_difference(repo: Repo) -> None:
    add_meemoo(repo)
    before = repo.json("organisations", "list")
    result = repo.run(
        "organisations", "add", "meemoo", "--name", "meemoo", "--contact-name", "",
        "--contact-email", "info@meemoo.be", "--exist-ok", ok=False,
    )  # fmt: skip
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        f"error: organisation 'meemoo' exists with other details: name is {FULL_NAME!r}, not "
        "'meemoo'; contact name is 'An Peeters', not an empty value; contact email is "
        "'archief@meemoo.be', not 'info@meemoo.be'; change it with: preserve organisations "
        "edit meemoo\n",
    )
    assert repo.json("organisations", "list") == before


def test_add_exist_ok_says_a_detail_never_set_is_not_set(repo: Repo) -> None:
    repo.run("organisations", "add", "kbr", "--name", "KBR")
    result = repo.run(
        "organisations", "add", "kbr", "--name", "KBR", "--address", "Kunstlaan 1",
        "--exist-ok", ok=False,
    )  # fmt: skip
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "error: organisation 'kbr' exists with other details: address is not set, not "
        "'Kunstlaan 1'; change it with: preserve organisations edit kbr\n",
    )
    assert repo.json("organisations", "show", "kbr")["organisation"]["address"] == ""


def test_add_exist_ok_checks_its_values_first(repo: Repo) -> None:
    result = repo.run(
        "organisations", "add", "default", "--name", "default", "--contact-email", "nobody",
        "--exist-ok", ok=False,
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (
        2,
        "error: contact e-mail 'nobody' is not an e-mail address (one '@', no spaces, e.g. "
        "archive@example.org)\n",
    )
