"""Issue 10 leftovers: a copy on a retired location is kept but no longer counted among the
package's (verified) copies; a repair's own check of a copy that a fixity run found damaged
does not open a second ``fixity_failure`` alert for the same damage, while damage found after
the copy was verified again does. Local storage and S3; SQLite and PostgreSQL."""

# ruff: noqa: F811 - ``stored`` is the fixture of test_repair, imported, not redefined
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from preserve.catalogue.models import Alert
from preserve.services.fixity import check_fixity
from preserve.services.packages import show_package
from preserve.services.repair import repair_copy
from preserve.services.replication import retire_location
from tests.integration.test_repair import Stored, _flip, stored  # noqa: F401


def test_a_retired_copy_is_not_counted_as_verified(stored: Stored) -> None:
    s = stored
    before = show_package(s.app, s.package_id, files=False).summary
    assert (before.copies, before.verified_copies) == (2, 2)
    retire_location(s.app, "second")
    after = show_package(s.app, s.package_id, files=False).summary
    assert (after.copies, after.verified_copies) == (1, 1)
    [row] = [p for p in s.repo.json("packages", "list", "--json") if p["id"] == s.package_id]
    assert (row["copies"], row["verified_copies"]) == (1, 1)


def test_a_repair_does_not_alert_twice_for_the_same_damage(stored: Stored) -> None:
    s = stored
    copy_id = s.copies["second"][0]
    s.damage("second", "data/a.bin", _flip)
    found = datetime.now(UTC)
    assert not check_fixity(s.app, package_id=s.package_id, now=found).ok
    assert [a.kind for a in s.rows(Alert, package_id=s.package_id)] == ["fixity_failure"]

    result = repair_copy(s.app, copy_id, now=found + timedelta(minutes=5))
    assert result.repaired and result.outcome_before == "mismatch"
    kinds = [a.kind for a in s.rows(Alert, package_id=s.package_id)]
    assert kinds == ["fixity_failure", "repaired"]

    # damaged again once it was verified whole: a new incident, a new alert
    s.damage("second", "data/b.bin", _flip)
    assert not check_fixity(s.app, package_id=s.package_id, now=found + timedelta(hours=1)).ok
    kinds = [a.kind for a in s.rows(Alert, package_id=s.package_id)]
    assert kinds == ["fixity_failure", "repaired", "fixity_failure"]
