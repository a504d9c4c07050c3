from preserve.errors import NotFound
from preserve.names import suggestions, unknown


def test_a_misspelling_is_answered_with_the_closest_names() -> None:
    error = unknown("collection", "fotos", ["photos", "texts", "audio"])
    assert isinstance(error, NotFound)
    assert str(error) == "no collection 'fotos'; did you mean 'photos'?"
    assert error.exit_code == 3


def test_case_does_not_hide_a_match() -> None:
    assert suggestions("PHOTOS", ["photos", "texts"]) == ["photos"]


def test_nothing_close_lists_what_exists() -> None:
    error = unknown("organisation", "xyz", ["meemoo", "kbr"], where="this catalogue")
    assert str(error) == (
        "no organisation 'xyz' in this catalogue (the organisations in this catalogue: kbr, meemoo)"
    )


def test_long_lists_are_cut() -> None:
    names = [f"collection-{i:02}" for i in range(25)]
    message = str(unknown("collection", "zzz", names))
    assert "and 15 more" in message


def test_nothing_at_all() -> None:
    assert str(unknown("storage location", "s3", [])) == (
        "no storage location 's3' (there is no storage location yet)"
    )


def test_plural_of_words_ending_in_y() -> None:
    assert "(the agencies: a, b)" in str(unknown("agency", "zzz", ["a", "b"]))


def test_a_partial_name_suggests_the_names_that_start_with_or_contain_it() -> None:
    kinds = ["legal", "dispute", "audit", "gdpr_request", "rights_challenge", "other"]
    assert suggestions("gdpr", kinds) == []  # too short beside gdpr_request to be close
    assert suggestions("gdpr", kinds, partial=True) == ["gdpr_request"]
    assert suggestions("GDPR", kinds, partial=True) == ["gdpr_request"]
    assert suggestions("request", kinds, partial=True) == ["gdpr_request"]
    assert suggestions("legl", kinds, partial=True) == ["legal"]  # close still counts
    # prefixes first, then names containing it, then close ones; two letters match nothing
    assert suggestions("rig", ["brig", "rights", "rug"], partial=True) == ["rights", "brig", "rug"]
    assert suggestions("au", kinds, partial=True) == []
