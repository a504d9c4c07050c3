"""``python -m bench.journal``: what writing the events to storage costs a large fixity run.

A fixity run over N packages records one ``fixity check`` event per copy, and the journal then
writes one event file per package on every location holding it
(:func:`preserve.services.journal.flush_events`). The payload plays no part in that cost, so
the catalogue is filled directly with N stored packages of one version, a copy each on the
default location, and one fixity event per copy as a run records it (with its implementer and
owner); the flush of all of them is then timed, and the events and bytes written reported.
``--s3`` puts the location on a moto S3 server (in this process) instead of a local folder.

    python -m bench.journal --packages 1000
    python -m bench.journal --packages 10000
    python -m bench.journal --packages 1000 --s3
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime

from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap


def fill(app: object, packages: int) -> list[str]:
    """N stored packages with a copy each on the default location, and a fixity check event
    per copy, inserted in bulk."""
    import sqlalchemy as sa

    from preserve.catalogue.models import Copy, Event, EventAgent, Package, PackageVersion

    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(packages)]
    with app.uow() as uow:  # type: ignore[attr-defined]
        coll = uow.collections.get("default", "bench")
        loc = uow.locations.get_by_name("default")
        software = uow.agents.get_or_create("preserve", "bench", "software")
        person = uow.agents.get_or_create("bench", "", "person")
        owner = uow.agents.get_or_create("default", "", "organization")
        session = uow.session
        session.execute(
            sa.insert(Package),
            [
                {
                    "id": i,
                    "collection_id": coll.id,
                    "title": f"package {n}",
                    "description": {},
                    "status": "stored",
                    "version": 1,
                    "size": 0,
                    "file_count": 0,
                    "bag_info": [],
                    "source": "",
                    "created_at": now,
                    "stored_at": now,
                }
                for n, i in enumerate(ids)
            ],
        )
        session.execute(
            sa.insert(PackageVersion),
            [{"package_id": i, "number": 1, "status": "stored", "created_at": now} for i in ids],
        )
        session.execute(
            sa.insert(Copy),
            [
                {
                    "package_id": i,
                    "location_id": loc.id,
                    "version": 1,
                    "key_prefix": f"default/bench/{i}/v1/",
                    "status": "verified",
                    "created_at": now,
                }
                for i in ids
            ],
        )
        copies = dict(session.execute(sa.select(Copy.package_id, Copy.id)).all())
        events = [str(uuid.uuid4()) for _ in ids]
        session.execute(
            sa.insert(Event),
            [
                {
                    "id": e,
                    "event_type": "fixity check",
                    "occurred_at": now,
                    "outcome": "success",
                    "detail": "re-read 12 files (1,234,567 bytes) of location default from the "
                    "device (page cache dropped first); digests verified (sha256): sha256 of "
                    "12 files; sizes, missing and unexpected objects checked",
                    "outcome_detail": "ok",
                    "agent_id": software.id,
                    "package_id": i,
                    "copy_id": copies[i],
                    "version": 1,
                }
                for e, i in zip(events, ids, strict=True)
            ],
        )
        session.execute(
            sa.insert(EventAgent),
            [{"event_id": e, "agent_id": person.id, "role": "implementer"} for e in events]
            + [{"event_id": e, "agent_id": owner.id, "role": "owner"} for e in events],
        )
        uow.commit()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--s3", action="store_true", help="a moto S3 location (in-process)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="preserve-bench-journal-") as tmp:
        env = {"PRESERVE_HOME": tmp}
        server = None
        if args.s3:
            import boto3
            from moto.server import ThreadedMotoServer

            for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
                os.environ.setdefault(k, v)
            os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
            env["PRESERVE_STORAGE_URL"] = f"s3://bench/p?endpoint_url={endpoint}"
        app = bootstrap(Settings.from_env(env), actor="bench")
        from preserve.services.admin import add_collection, initialise
        from preserve.services.journal import flush_events

        initialise(app)
        add_collection(app, "bench")
        ids = fill(app, args.packages)
        started = time.perf_counter()
        cpu = time.process_time()
        report = flush_events(app, ids)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        nbytes = sum(w.size for w in report.written)
        where = "moto S3 (in-process)" if args.s3 else "local folder"
        print(
            f"{args.packages} packages, 1 copy each on a {where}: {len(report.written)} event "
            f"files, {report.events} events, {nbytes / len(report.written):.0f} bytes each; "
            f"{wall:.2f} s wall ({1000 * wall / args.packages:.2f} ms per package), "
            f"{cpu:.2f} s CPU; postponed: {len(report.postponed)}"
        )
        app.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
