"""The agreement's service level drives replication (issue 12, retention-agreements.md 5.1 E3 and
E8): real replicate jobs run by the runner onto local folders and the S3 test endpoint, on
SQLite and PostgreSQL. Three copies in two regions are made on eligible locations, a region the
agreement does not allow is never used, a requirement no location can meet raises an alert, and
no copy goes to a third party's storage node without a replicate grant."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Alert, Copy, Job, Package, StorageLocation
from preserve.errors import InvalidInput, NotFound, PermissionDenied
from preserve.ingest import ingest
from preserve.services import admin, placement, replication, runner
from preserve.services.fixity import check_fixity
from tests.agreement_setup import add_people, make_active, spec


@dataclass
class World:
    app: Application
    package_id: str
    tmp: Path

    def location(self, name: str, url: str | None = None, **facts: object) -> None:
        if url is None:
            root = self.tmp / name
            root.mkdir()
            url = root.as_uri()
        admin.add_location(self.app, name, url)
        placement.set_facts(self.app, name, **facts)  # type: ignore[arg-type]

    def verified_on(self) -> list[str]:
        with self.app.uow() as uow:
            return sorted(
                uow.session.scalars(
                    sa.select(StorageLocation.name)
                    .join(Copy, Copy.location_id == StorageLocation.id)
                    .where(Copy.package_id == self.package_id, Copy.status == "verified")
                )
            )

    def run_sync(self) -> list[str]:
        """Queue the replications (as the sync job does) and run each job as a worker."""
        queued = replication.queue_sync(self.app, publish=lambda _id: None)
        outcomes = [runner.run_job(self.app, q.job_id, "worker-1") for q in queued]
        assert set(outcomes) <= {"succeeded"}, outcomes
        return sorted(q.location for q in queued)

    def alerts(self) -> list[str]:
        with self.app.uow() as uow:
            return list(
                uow.session.scalars(
                    sa.select(Alert.subject).where(Alert.kind == "replication").order_by(Alert.id)
                )
            )


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """Collection museum/photos on 'default' (Belgium, site 'ghent') with one package."""
    app = bootstrap(
        Settings.from_env(
            {
                "PRESERVE_HOME": str(tmp_path / "home"),
                "PRESERVE_DATABASE_URL": database_url,
                "PRESERVE_STORAGE_RETRIES": "1",
                "PRESERVE_STORAGE_BACKOFF": "0.01",
            }
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    placement.set_facts(app, "default", site="ghent", region="BE", operator="own")
    admin.add_collection(app, "photos", organisation="museum", locations=("default",))
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.bin").write_bytes(os.urandom(50_000))
    (delivery / "b.txt").write_text("bee\n")
    report = ingest(app, [delivery], collection="photos", organisation="museum")
    assert not report.failures, report.failures
    yield World(app, report.results[0].package_id, tmp_path)
    app.close()


def test_three_copies_in_two_regions_on_eligible_locations(world: World, storage_url: str) -> None:
    w = world
    w.location("ghent2", site="ghent", region="BE")
    w.location("amsterdam", storage_url, site="amsterdam", region="NL")
    w.location("virginia", site="virginia", region="US")
    assert replication.shortfalls(w.app) == []  # no agreement yet: only 'default' is required
    make_active(
        w.app,
        spec(
            service_level={
                "min_copies": 3,
                "min_distinct_sites": 2,
                "allowed_regions": ["BE", "NL"],
            }
        ),
    )
    gaps = replication.shortfalls(w.app)
    assert sorted((s.location, s.reason) for s in gaps) == [
        ("amsterdam", "agreement ENF-2026-001 v1"),
        ("ghent2", "agreement ENF-2026-001 v1"),
    ]
    assert w.run_sync() == ["amsterdam", "ghent2"]
    assert w.verified_on() == ["amsterdam", "default", "ghent2"]
    assert replication.shortfalls(w.app) == []
    assert w.alerts() == []
    report = check_fixity(w.app, package_id=w.package_id)
    assert report.ok and len(report.checks) == 3
    # a region the agreement does not allow is never used, even named directly
    with pytest.raises(PermissionDenied, match="outside the regions"):
        replication.replicate(w.app, w.package_id, 1, "virginia")
    assert "virginia" not in w.verified_on()


def test_activation_queues_the_placement_for_the_workers(world: World) -> None:
    """Activating the agreement queues a sync job for its collection; run as a worker runs it,
    it queues the replications, which the worker runs in turn."""
    w = world
    w.location("ghent2", site="ghent", region="BE")
    make_active(w.app, spec(service_level={"min_copies": 2}))
    with w.app.uow() as uow:
        [sync] = uow.session.scalars(sa.select(Job).where(Job.kind == "sync")).all()
        assert sync.payload == {"collection": "photos", "organisation": "museum"}
        assert sync.requested_by == "agreement ENF-2026-001 v1"
        sync_id = sync.id
    assert runner.run_job(w.app, sync_id, "worker-1") == "succeeded"
    with w.app.uow() as uow:
        [job] = uow.session.scalars(sa.select(Job).where(Job.kind == "replicate")).all()
        job_id = job.id
    assert runner.run_job(w.app, job_id, "worker-1") == "succeeded"
    assert w.verified_on() == ["default", "ghent2"]


def test_the_strictest_of_several_agreements_applies(world: World) -> None:
    """Two agreements over the collection: the most copies, both lists of regions, and a
    replicate grant withheld by either keeps copies off the storage node."""
    w = world
    w.location("paris", site="paris", region="FR")  # in the EU, not in the second's list
    w.location("zurich", site="zurich", region="CH")  # in the second's list, not in the EU
    w.location("amsterdam", site="amsterdam", region="NL")
    w.location("ghent2", site="ghent", region="BE")
    w.location("partner", site="partner", region="BE", operator="storage_node")
    make_active(w.app, spec(service_level={"min_copies": 2, "allowed_regions": ["EU"]}))
    make_active(
        w.app,
        spec(
            reference="ENF-2026-002",
            service_level={"min_copies": 3, "allowed_regions": ["BE", "NL", "CH"]},
            rights=[{"act": "replicate", "restriction": "disallow"}],
        ),
    )
    with w.app.uow() as uow:
        package = uow.session.get(Package, w.package_id)
        assert package is not None
        req = placement.requirement_for(uow.session, package.collection_id)
    assert req is not None
    assert req.agreement == "ENF-2026-001 v1 + ENF-2026-002 v1"
    assert (req.min_copies, req.replicate_granted, req.withheld_by) == (
        3,
        False,
        "ENF-2026-002 v1",
    )
    assert w.run_sync() == ["amsterdam", "ghent2"]
    assert w.verified_on() == ["amsterdam", "default", "ghent2"]
    with pytest.raises(PermissionDenied, match="outside the regions agreement ENF-2026-002 v1"):
        replication.replicate(w.app, w.package_id, 1, "paris")
    with pytest.raises(PermissionDenied, match="agreement ENF-2026-002 v1 does not grant"):
        replication.replicate(w.app, w.package_id, 1, "partner")


def test_a_package_ingested_later_gets_its_copies_queued(world: World, tmp_path: Path) -> None:
    w = world
    w.location("ghent2", site="ghent", region="BE")
    make_active(w.app, spec(service_level={"min_copies": 2, "offline_copy_required": True}))
    later = tmp_path / "later"
    later.mkdir()
    (later / "c.txt").write_text("later\n")
    report = ingest(w.app, [later], collection="photos", organisation="museum")
    assert not report.failures, report.failures
    new_id = report.results[0].package_id
    # the ingest itself queued the copy its agreement asks for (the one job asked again below)
    with w.app.uow() as uow:
        jobs = uow.session.scalars(
            sa.select(Job.id).where(Job.kind == "replicate", Job.package_id == new_id)
        ).all()
    assert len(jobs) == 1
    queued = replication.queue_package_copies(w.app, new_id, publish=lambda _id: None)
    assert [q.job_id for q in queued] == list(jobs)
    assert [(q.package_id, q.location) for q in queued] == [(new_id, "ghent2")]
    assert runner.run_job(w.app, queued[0].job_id, "worker-1") == "succeeded"
    assert any(new_id in subject and "offline copy" in subject for subject in w.alerts())
    assert replication.queue_package_copies(w.app, new_id, publish=lambda _id: None) == []
    with pytest.raises(NotFound):
        replication.queue_package_copies(w.app, "no-such-package")


def test_eu_admits_member_states_only(world: World) -> None:
    w = world
    w.location("paris", site="paris", region="FR")
    w.location("zurich", site="zurich", region="CH")
    make_active(
        w.app,
        spec(service_level={"min_copies": 2, "min_distinct_sites": 2, "allowed_regions": ["EU"]}),
    )
    assert [s.location for s in replication.shortfalls(w.app)] == ["paris"]
    assert w.run_sync() == ["paris"]
    assert w.verified_on() == ["default", "paris"]


def test_the_collections_own_locations_are_preferred_and_offline_is_placed(world: World) -> None:
    w = world
    w.location("aaa", site="brussels", region="BE")
    w.location("tape", site="vault", region="BE", offline=True)
    admin.edit_collection(w.app, "photos", organisation="museum", add_locations=("tape",))
    with w.app.uow() as uow:  # the job that edit queued is left for the sync
        uow.session.execute(sa.delete(Job))
        uow.commit()
    make_active(
        w.app,
        spec(service_level={"min_copies": 2, "offline_copy_required": True}),
    )
    # 'tape' is named by the collection and offline: no copy on 'aaa' is needed
    assert w.run_sync() == ["tape"]
    assert w.verified_on() == ["default", "tape"]


def test_a_requirement_no_location_can_meet_raises_one_alert_each(world: World) -> None:
    w = world
    w.location("ghent2", site="ghent", region="BE")
    make_active(
        w.app,
        spec(
            service_level={
                "min_copies": 3,
                "min_distinct_sites": 2,
                "offline_copy_required": True,
            }
        ),
    )
    [unmet] = replication.unmet_requirements(w.app)
    assert unmet.package_id == w.package_id
    assert [u.split(" (")[0] for u in unmet.unmet] == [
        "3 copies",
        "2 distinct sites",
        "an offline copy",
    ]
    assert w.run_sync() == ["ghent2"]  # what can be placed is placed
    subjects = w.alerts()
    assert len(subjects) == 3
    assert all("agreement ENF-2026-001 v1 cannot be met" in s for s in subjects)
    assert any(s.endswith("an offline copy") for s in subjects)
    replication.queue_sync(w.app, publish=lambda _id: None)  # found again: no new alert
    assert len(w.alerts()) == 3


def test_no_copy_to_a_storage_node_without_a_replicate_grant(world: World) -> None:
    w = world
    w.location("partner", site="partner", region="BE", operator="storage_node")
    make_active(
        w.app,
        spec(
            service_level={"min_copies": 2},
            rights=[{"act": "replicate", "restriction": "disallow"}],
        ),
    )
    assert replication.shortfalls(w.app) == []
    assert w.run_sync() == []
    assert w.verified_on() == ["default"]
    [alert] = w.alerts()
    assert "2 copies" in alert
    with pytest.raises(PermissionDenied, match="does not grant 'replicate'"):
        replication.replicate(w.app, w.package_id, 1, "partner")
    # the collection naming the node does not get round it either
    admin.edit_collection(w.app, "photos", organisation="museum", add_locations=("partner",))
    assert replication.shortfalls(w.app) == []
    assert w.verified_on() == ["default"]


def test_a_storage_node_is_used_with_a_replicate_grant(world: World) -> None:
    w = world
    w.location("partner", site="partner", region="BE", operator="storage-node")
    make_active(w.app, spec(service_level={"min_copies": 2}))
    assert w.run_sync() == ["partner"]
    assert w.verified_on() == ["default", "partner"]


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"operator": "cloud"}, "operator 'cloud' is not one of own, storage-node"),
        ({"site": "a\tb"}, "must be 1 to 100 printable characters"),
        ({"region": "x" * 101}, "longer than 100 characters"),
        ({}, "nothing to change"),
    ],
)
def test_bad_location_facts(world: World, facts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        placement.set_facts(world.app, "default", **facts)  # type: ignore[arg-type]


def test_region_and_jurisdiction() -> None:
    assert placement.jurisdiction_of("be") == "BE"
    assert placement.jurisdiction_of("EU") == "EU"
    assert placement.jurisdiction_of("eu-west-1") is None
    assert placement.region_allowed("BE", ["EU"])
    assert not placement.region_allowed("CH", ["EU"])
    assert not placement.region_allowed(None, ["BE"])
    assert placement.region_allowed(None, [])


def test_locations_add_edit_and_show_on_the_command_line(tmp_path: Path) -> None:
    from tests.functional.cli import Repo

    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    (tmp_path / "nl").mkdir()
    repo.run(
        "locations", "add", "nl", (tmp_path / "nl").as_uri(),
        "--region", "nl", "--site", "amsterdam", "--operator", "storage-node",
    )  # fmt: skip
    shown = repo.run("locations", "show", "nl").stdout
    assert "jurisdiction: NL" in shown and "site:         amsterdam" in shown
    assert "operator:     storage-node" in shown
    [listed] = [loc for loc in repo.json("locations", "list") if loc["name"] == "nl"]
    assert (listed["site"], listed["jurisdiction"], listed["operator"]) == (
        "amsterdam",
        "NL",
        "storage_node",
    )
    edited = repo.json("locations", "edit", "nl", "--offline", "--region", "eu-west-1")
    assert edited["offline"] is True and edited["jurisdiction"] is None
    assert edited["region"] == "eu-west-1" and edited["site"] == "amsterdam"
    cleared = repo.json("locations", "edit", "nl", "--site", "", "--online")
    assert cleared["site"] is None and cleared["offline"] is False
    for args, message in (
        (("--operator", "cloud"), "operator 'cloud' is not one of own, storage-node"),
        ((), "nothing to change"),
    ):
        result = repo.run("locations", "edit", "nl", *args, ok=False)
        assert result.exit_code == 2 and message in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    bad = repo.run("locations", "edit", "nowhere", "--site", "x", ok=False)
    assert bad.exit_code != 0 and "nowhere" in bad.stderr
    bad = repo.run(
        "locations", "add", "x", (tmp_path / "x").as_uri(), "--operator", "cloud", ok=False
    )
    assert bad.exit_code == 2 and "operator 'cloud'" in bad.stderr


def test_sync_with_nothing_to_copy_still_says_what_cannot_be_met(world: World) -> None:
    """ "no shortfalls" alone read as "every requirement is met" while the agreement's alerts
    said otherwise (a new-user trial): the command says what no sync can fix."""
    from click.testing import CliRunner

    from preserve.cli import cli

    w = world
    make_active(w.app, spec(service_level={"min_copies": 2, "offline_copy_required": True}))
    env = {
        "PRESERVE_HOME": str(w.app.settings.home),
        "PRESERVE_DATABASE_URL": w.app.settings.database_url,
    }
    for args in (["--dry-run"], []):
        result = CliRunner().invoke(cli, ["locations", "sync", *args], env=env)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0] == "no shortfalls: every package version has a verified copy where required"
        assert lines[1].startswith(
            f"but 1 package version cannot meet what their agreement asks with the locations "
            f"there are, e.g. {w.package_id} v1 (museum/photos): 2 copies"
        ), lines
        assert "an offline copy" in lines[1] and lines[1].endswith(
            "preserve alerts list names them all"
        )


def test_an_ingest_says_what_its_agreement_asks_that_the_locations_cannot_give(
    world: World,
) -> None:
    """A new-user trial: the ingest printed only ``copies: default`` while the agreement asked 3
    copies on 2 sites and an offline one; the shortfall was only in the alerts. The ingest now
    says it, once per agreement and shortfall, as ``preserve locations sync`` judges it."""
    from click.testing import CliRunner

    from preserve.cli import cli

    w = world
    w.location("ghent2", site="ghent", region="BE")
    env = {
        "PRESERVE_HOME": str(w.app.settings.home),
        "PRESERVE_DATABASE_URL": w.app.settings.database_url,
    }
    deliveries = []
    for name in ("one", "two"):
        d = w.tmp / "later" / name
        d.mkdir(parents=True)
        (d / "a.bin").write_bytes(os.urandom(3_000))
        deliveries.append(str(d))

    def ingest_cli(*paths: str) -> tuple[list[str], str]:
        args = ["ingest", *paths, "--collection", "photos", "--organisation", "museum"]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        lines = [x for x in result.stderr.splitlines() if "this location set gives" in x]
        return lines, result.stdout

    make_active(w.app, spec(service_level={"min_copies": 2}))
    assert ingest_cli(deliveries[0])[0] == []  # default and ghent2 give what it asks

    make_active(
        w.app,
        spec(
            reference="CRA-2026-001",
            service_level={"min_copies": 3, "min_distinct_sites": 2, "offline_copy_required": True},
        ),
    )
    lines, stdout = ingest_cli(deliveries[1])
    [package_id] = [p for p in _package_ids(w) if p != w.package_id and p in stdout]
    [unmet] = replication.unmet_requirements(w.app, package_ids=[package_id])
    assert lines == [
        f"warning: agreement {unmet.requirement.agreement} asks 3 copies on 2 sites with one "
        "offline; this location set gives 2 copies on 1 site, none offline (package "
        f"{package_id}; see: preserve locations sync, preserve alerts list)"
    ]
    assert "CRA-2026-001 v1" in lines[0]
    # two packages with the same shortfall: one line
    more = []
    for name in ("three", "four"):
        d = w.tmp / "later" / name
        d.mkdir(parents=True)
        (d / "b.bin").write_bytes(os.urandom(3_000))
        more.append(str(d))
    lines, _stdout = ingest_cli(*more)
    assert len(lines) == 1 and lines[0].endswith(
        "none offline (2 packages; see: preserve locations sync, preserve alerts list)"
    )


def _package_ids(w: World) -> list[str]:
    with w.app.uow() as uow:
        return list(uow.session.scalars(sa.select(Package.id)))
