"""The web catalogue under load: 100,000 packages and 1,000,000 files on PostgreSQL, served by
gunicorn (threads) on loopback, 10 concurrent users; median and 95th percentile per page.

    python -m bench.web                                   # print the "Web catalogue" section
    python -m bench.web --merge docs/benchmarks.md        # ... and put it into the document
    python -m bench.web --quick                           # 2,000 packages, short runs (tests)

A database of its own is made on the PostgreSQL server of ``--postgres`` (default
``PRESERVE_TEST_DATABASE_URL``) and dropped afterwards. The catalogue is set up through the real
``preserve`` commands (init, organisations, collections, locations), then filled in bulk with
COPY: realistic titles, creators and dates in Dutch, French and English, file paths, PUIDs,
MIME types and sizes, two copies per package with fixity results, and two PREMIS events per
package. The search indexes of migration 0007 are dropped for the load and built again after
it (as a restore would), then ANALYZE. Each page is measured on its own: 10 users, each a
thread with its own signed-in session and keep-alive connection, request after request with no
pause, for ``--seconds`` seconds after a warm-up.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.workers import create_database, drop_database, percentile

SECTION = "## Web catalogue"
DEFAULT_POSTGRES = os.environ.get(
    "PRESERVE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "bench web catalogue password"
TARGET_P95_MS = 200.0


@dataclass(frozen=True)
class Sizes:
    packages: int
    files_per_package: int
    seconds: float
    warmup: int


FULL = Sizes(packages=100_000, files_per_package=10, seconds=20.0, warmup=20)
QUICK = Sizes(packages=2_000, files_per_package=10, seconds=2.0, warmup=3)

ORGANISATIONS = {
    "mkm": ("Museum voor Kunst en Mode", ["foto", "affiches", "textiel"]),
    "aeb": ("Archives de l'État à Bruxelles", ["cartes", "lettres", "registres"]),
    "vrt": ("Omroeparchief", ["radio", "televisie", "scripts"]),
    "ulb": ("University Library", ["theses", "maps", "manuscripts"]),
}

NOUNS = [
    "haven", "kaart", "brief", "affiche", "station", "kerk", "markt", "school", "fabriek",
    "carte", "lettre", "église", "gare", "marché", "usine", "hôtel de ville", "rue",
    "harbour", "map", "letter", "church", "market", "factory", "town hall", "street",
    "portret", "portrait", "tentoonstelling", "exposition", "exhibition", "concert", "opera",
]  # fmt: skip
PLACES = [
    "Antwerpen", "Brussel", "Bruxelles", "Gent", "Liège", "Luik", "Namur", "Namen", "Brugge",
    "Leuven", "Mons", "Bergen", "Oostende", "Charleroi", "Hasselt", "Mechelen", "Tournai",
    "Doornik", "Kortrijk", "Arlon", "Ieper", "Dinant", "Spa", "Aalst", "Sint-Niklaas",
]  # fmt: skip
CREATORS = [
    "Peeters, An", "Janssens, Jan", "Maes, Els", "Jacobs, Luc", "Mertens, Sofie",
    "Dubois, Marc", "Lambert, Hélène", "Dupont, François", "Lefèvre, Zoë", "Renard, Amélie",
    "Smith, John", "Brown, Mary", "Van den Broeck, Gert", "De Smet, Ann", "Willems, Noël",
]  # fmt: skip
FORMATS = [
    # (weight, puid, name, mime, extension, typical size)
    (35, "fmt/353", "Tagged Image File Format", "image/tiff", "tif", 40_000_000),
    (20, "fmt/43", "JPEG File Interchange Format", "image/jpeg", "jpg", 3_000_000),
    (10, "fmt/276", "Acrobat PDF 1.7 - Portable Document Format", "application/pdf", "pdf",
     2_000_000),
    (8, "x-fmt/111", "Plain Text File", "text/plain", "txt", 5_000),
    (6, "fmt/11", "Portable Network Graphics", "image/png", "png", 1_500_000),
    (5, "fmt/101", "Extensible Markup Language", "text/xml", "xml", 20_000),
    (4, "fmt/199", "MPEG-4 Media File", "video/mp4", "mp4", 300_000_000),
    (3, "fmt/141", "Waveform Audio", "audio/x-wav", "wav", 60_000_000),
    (3, "fmt/412", "Microsoft Word for Windows",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", 80_000),
    (2, "fmt/134", "MPEG 1/2 Audio Layer 3", "audio/mpeg", "mp3", 8_000_000),
    (2, "fmt/645", "Exchangeable Image File Format (Compressed)", "image/jpeg", "jpg", 5_000_000),
    (1, "fmt/40", "Microsoft Word Document", "application/msword", "doc", 60_000),
    (1, "", "", "application/octet-stream", "bin", 1_000),
]  # fmt: skip
SEARCHES = [
    "haven", "Bruxelles", "peeters", "fmt/353", "image/tiff", "kaart antwerpen", "IMG_0042",
    "liege", "1923", "brus", "lettre namur", "Portable Network Graphics", "zoë",
]  # fmt: skip


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------- the catalogue


class Catalogue:
    """A PostgreSQL catalogue of its own under ``home``, set up with the ``preserve`` commands."""

    def __init__(self, admin_url: str, home: Path, url: str | None = None) -> None:
        self.admin_url = admin_url
        self.home = home
        self.url = url or create_database(admin_url)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PRESERVE_")},
            "PRESERVE_HOME": str(home),
            "PRESERVE_DATABASE_URL": self.url,
            "PRESERVE_ENV": "development",
        }

    def preserve(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "preserve.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"preserve {' '.join(args)}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def close(self) -> None:
        drop_database(self.admin_url, self.url)

    def libpq(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.url).set(drivername="postgresql").render_as_string(False)


def set_up(cat: Catalogue) -> None:
    cat.preserve("init")
    cat.preserve("locations", "add", "second", f"file://{cat.home / 'second'}")
    for slug, (name, collections) in ORGANISATIONS.items():
        cat.preserve("organisations", "add", slug, "--name", name)
        for coll in collections:
            cat.preserve(
                "collections", "add", coll, "--organisation", slug, "--title", coll.title(),
                "--location", "default", "--location", "second",
            )  # fmt: skip


def fill(cat: Catalogue, sizes: Sizes, seed: int = 11) -> dict[str, Any]:
    """Bulk-load packages, versions, files, copies and events; returns what was loaded."""
    import psycopg

    rng = random.Random(seed)
    weights = [f[0] for f in FORMATS]
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=6 * 365)
    t0 = time.monotonic()
    packages: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    formats: list[list[Any]] = []
    with psycopg.connect(cat.libpq(), autocommit=False) as conn:
        cur = conn.cursor()
        collections = [r[0] for r in cur.execute("SELECT id FROM collections ORDER BY id")]
        locations = [r[0] for r in cur.execute("SELECT id FROM storage_locations ORDER BY id")]
        row = cur.execute(
            "INSERT INTO agents (name, version, agent_type) VALUES ('preserve', 'bench', "
            "'software') RETURNING id"
        ).fetchone()
        assert row is not None
        agent = row[0]
        # the search indexes are built again after the load (faster than row by row)
        saved = cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix_search_%'"
        ).fetchall()
        for name, _definition in saved:
            cur.execute(f'DROP INDEX "{name}"')
        for n in range(sizes.packages):
            pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            place = rng.choice(PLACES)
            year = rng.randint(1850, 2020)
            title = f"{rng.choice(NOUNS).capitalize()} {place} {year}"
            date = str(year) if rng.random() < 0.5 else f"{year}-{rng.randint(1, 12):02d}"
            description = json.dumps(
                {
                    "title": [title],
                    "creator": [rng.choice(CREATORS)],
                    "date": [date],
                    "description": [f"{rng.choice(NOUNS)} {rng.choice(NOUNS)} {place}"],
                    "identifier": [f"urn:uuid:{pid}"],
                }
            )
            created = start + timedelta(seconds=rng.randint(0, 6 * 365 * 86400))
            stored = created + timedelta(minutes=2)
            chosen = rng.choices(FORMATS, weights=weights, k=sizes.files_per_package)
            sizes_of_files = [int(f[5] * rng.uniform(0.2, 1.8)) for f in chosen]
            size = sum(sizes_of_files)
            files = len(chosen)
            damaged = created + timedelta(days=30) if rng.random() < 0.001 else None
            packages.append((
                pid, rng.choice(collections), f"{place.lower()}-{year}-{n:06d}", title,
                description, "stored", 1, size, files, uuid.uuid4().hex, "[]", "bench", created,
                stored, damaged,
            ))  # fmt: skip
            versions.append((
                pid, 1, "content", "stored", title, description, "[]", None, files, size, files,
                size, "{}", "bench", "folder", "", "bench", created, stored,
            ))  # fmt: skip
            formats.append(list(zip(chosen, sizes_of_files, strict=True)))
        # one COPY at a time on a connection
        with cur.copy(
            "COPY packages (id, collection_id, external_identifier, title, description, status, "
            "version, size, file_count, payload_fingerprint, bag_info, source, created_at, "
            "stored_at, damaged_at) FROM STDIN"
        ) as copy:
            for values in packages:
                copy.write_row(values)
        with cur.copy(
            "COPY package_versions (package_id, number, kind, status, title, description, "
            "bag_info, payload_fingerprint, file_count, size, stored_files, stored_bytes, "
            "changes, source, delivery_kind, delivery_profile, actor, created_at, stored_at) "
            "FROM STDIN"
        ) as copy:
            for values in versions:
                copy.write_row(values)
        log(f"bench: {len(packages):,} packages in {time.monotonic() - t0:.0f} s")
        file_count = 0
        with cur.copy(
            "COPY files (package_id, path, path_nfc, role, size, sha512, sha256, digests, puid, "
            "format_name, mime, version, stored_version) FROM STDIN"
        ) as copy:
            for values, chosen_files in zip(packages, formats, strict=True):
                pid = values[0]
                folder = rng.choice(["scans", "masters", "documents", "audio", "media", ""])
                for i, (f, file_size) in enumerate(chosen_files):
                    name = f"{'IMG' if f[3].startswith('image') else 'item'}_{i + 1:04d}.{f[4]}"
                    path = f"data/{folder}/{name}" if folder else f"data/{name}"
                    sha256 = rng.getrandbits(256).to_bytes(32, "big").hex()
                    copy.write_row((
                        pid, path, path, "payload", file_size, sha256 * 2, sha256, "{}",
                        f[1] or None, f[2] or None, f[3], 1, 1,
                    ))  # fmt: skip
                    file_count += 1
        log(f"bench: {file_count:,} files in {time.monotonic() - t0:.0f} s")
        copies = 0
        with cur.copy(
            "COPY copies (package_id, location_id, key_prefix, status, verified_by, created_at, "
            "verified_at, last_checked_at, last_outcome, version, next_check_at, size_bytes) "
            "FROM STDIN"
        ) as copy:
            for values in packages:
                for location in locations:
                    checked = now - timedelta(days=rng.uniform(0, 400))
                    failed = rng.random() < 0.0005
                    copy.write_row((
                        values[0], location, f"{values[0]}/v1",
                        "failed" if failed else "verified", "bench", checked, checked, checked,
                        "mismatch" if failed else "ok", 1, checked + timedelta(days=365),
                        values[7],
                    ))  # fmt: skip
                    copies += 1
        events = 0
        with cur.copy(
            "COPY events (id, event_type, occurred_at, outcome, detail, outcome_detail, "
            "agent_id, package_id, version) FROM STDIN"
        ) as copy:
            for values in packages:
                for event_type in ("ingestion", "fixity check"):
                    copy.write_row((
                        str(uuid.uuid4()), event_type, now - timedelta(days=rng.uniform(0, 400)),
                        "success", event_type, "", agent, values[0], 1,
                    ))  # fmt: skip
                    events += 1
        conn.commit()
        log(f"bench: copies and events in {time.monotonic() - t0:.0f} s")
        for _name, definition in saved:
            cur.execute(definition)
        conn.commit()
        log(f"bench: search indexes built again in {time.monotonic() - t0:.0f} s")
    with psycopg.connect(cat.libpq(), autocommit=True) as conn:
        conn.execute("ANALYZE")
    return {
        "packages": len(packages),
        "files": file_count,
        "copies": copies,
        "events": events,
        "seconds": round(time.monotonic() - t0),
        "package_ids": [p[0] for p in packages[:: max(1, len(packages) // 500)]],
    }


# ----------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """gunicorn with threads on loopback, over the bench catalogue."""

    def __init__(self, cat: Catalogue, workers: int, threads: int) -> None:
        self.port = free_port()
        self.log_path = cat.home / "gunicorn.log"
        self.command = [
            sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
            "--workers", str(workers), "--threads", str(threads),
            "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "--keep-alive", "75",
            "preserve.web:create_app()",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            self.command,
            env=cat.env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn stopped: {self.log_path.read_text()[-1000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/sign-in")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.3)
        raise BenchError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# ----------------------------------------------------------------------------- the load


class Client:
    """One user: a keep-alive connection and a signed-in session."""

    def __init__(self, port: int, username: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        page = self.get("/sign-in")[1]
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        if token is None:
            raise BenchError("no CSRF token on /sign-in")
        body = urlencode({"username": username, "password": PASSWORD, "csrf_token": token[1]})
        status, _ = self.request(
            "POST", "/sign-in", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 302:
            raise BenchError(f"sign-in answered {status}")

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # the server closed an idle keep-alive connection: open another, once
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read().decode("utf-8", "replace")
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def get(self, path: str) -> tuple[int, str]:
        return self.request("GET", path)


@dataclass(frozen=True)
class PageResult:
    page: str
    requests: int
    errors: int
    median_ms: float
    p95_ms: float
    max_ms: float
    per_second: float

    @property
    def met(self) -> bool:
        return self.errors == 0 and self.p95_ms < TARGET_P95_MS


def measure_page(
    name: str, clients: Sequence[Client], paths: Callable[[random.Random], str], sizes: Sizes
) -> PageResult:
    """Every client requests ``paths()`` one after the other for ``sizes.seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = [0.0]

    def user(index: int, client: Client) -> None:
        rng = random.Random(index)
        mine: list[float] = []
        bad = 0
        try:
            for _ in range(sizes.warmup):
                client.get(paths(rng))
        finally:
            barrier.wait(timeout=600)
        while time.monotonic() < stop_at[0]:
            path = paths(rng)
            t = time.perf_counter()
            try:
                status, _body = client.get(path)
            except (OSError, http.client.HTTPException) as exc:
                log(f"bench: {path}: {exc!r}")
                client.conn.close()
                status = 0
            mine.append((time.perf_counter() - t) * 1000)
            if status != 200:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    def start() -> None:
        stop_at[0] = time.monotonic() + sizes.seconds

    barrier = threading.Barrier(len(clients), action=start)
    threads = [threading.Thread(target=user, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if not latencies:
        raise BenchError(f"no request of {name} was made")
    return PageResult(
        page=name,
        requests=len(latencies),
        errors=errors[0],
        median_ms=statistics.median(latencies),
        p95_ms=percentile(latencies, 0.95),
        max_ms=max(latencies),
        per_second=len(latencies) / sizes.seconds,
    )


def pages(facts: dict[str, Any]) -> dict[str, Callable[[random.Random], str]]:
    ids = facts["package_ids"]
    collections = [f"{o}/{c}" for o, (_n, cs) in ORGANISATIONS.items() for c in cs]

    def package_list(rng: random.Random) -> str:
        choice = rng.random()
        if choice < 0.4:
            return "/packages"
        if choice < 0.7:
            return f"/packages?page={rng.randint(2, 40)}"
        return "/packages?" + urlencode({"collection": rng.choice(collections)})

    return {
        "dashboard (/)": lambda rng: "/",
        "package list (/packages, pages, a collection)": package_list,
        "search (/packages?q=..., 13 queries)": lambda rng: (
            "/packages?" + urlencode({"q": rng.choice(SEARCHES)})
        ),
        "package page (/packages/<id>)": lambda rng: f"/packages/{rng.choice(ids)}",
    }


# ----------------------------------------------------------------------------- the section


def time_searches(client: Client, rounds: int = 3) -> list[tuple[str, str, float]]:
    """Each search alone (no other load): its number of results and its median time."""
    out = []
    for text in SEARCHES:
        path = "/packages?" + urlencode({"q": text})
        client.get(path)  # warm
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            _status, body = client.get(path)
            times.append((time.perf_counter() - t) * 1000)
        found = re.search(
            r'class="result-count" role="status">\s*(More than )?([0-9,.\u202f\xa0 ]+) package',
            body,
        )
        if found is None and "No packages found." in body:
            out.append((text, "0", statistics.median(times)))
            continue
        if found is None:
            raise BenchError(f"the page of the search {text!r} says no number of packages")
        total = int(re.sub(r"\D", "", found.group(2)))
        out.append((text, f"more than {total:,}" if found.group(1) else f"{total:,}",
                    statistics.median(times)))  # fmt: skip
    return out


def render(
    results: Sequence[PageResult],
    run: dict[str, str],
    notes: Sequence[str],
    searches: Sequence[tuple[str, str, float]] = (),
) -> list[str]:
    out = [
        SECTION,
        "",
        "Latency of the web catalogue's pages at 10 concurrent users on loopback (`make "
        "bench-web`, `python -m bench.web`); target: 95th percentile under "
        f"{TARGET_P95_MS:.0f} ms for each page.",
        "",
        *[f"- **{k}**: {v}" for k, v in run.items()],
        "",
        "| Page | Requests | Errors | Median (ms) | p95 (ms) | Max (ms) | Requests/s "
        "| p95 < 200 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        out.append(
            f"| {r.page} | {r.requests:,} | {r.errors} | {r.median_ms:.0f} | {r.p95_ms:.0f} | "
            f"{r.max_ms:.0f} | {r.per_second:.1f} | {'met' if r.met else '**not met**'} |"
        )
    out.append("")
    if searches:
        out += [
            "Each search alone, before the load (median of 3, milliseconds):",
            "",
            "| Search | Packages found | Median (ms) |",
            "| --- | ---: | ---: |",
            *[f"| `{text}` | {total} | {ms:.0f} |" for text, total, ms in searches],
            "",
        ]
    if notes:
        out += ["### Notes (web catalogue)", "", *[f"- {n}" for n in notes], ""]
    return out


def merge_section(document: str, lines: Sequence[str], section: str = SECTION) -> str:
    """``document`` with its ``section`` (default: Web catalogue) replaced by ``lines`` (or
    inserted before its "## Method" heading, else at the end); other benchmarks share it."""
    text = "\n".join(lines).rstrip("\n") + "\n"
    parts = document.split("\n")
    if section in parts:
        start = parts.index(section)
        end = next(
            (i for i in range(start + 1, len(parts)) if parts[i].startswith("## ")), len(parts)
        )
        rest = "\n".join(parts[end:])
        return "\n".join(parts[:start]) + "\n" + text + ("\n" + rest if rest else "")
    if "## Method" in parts:
        i = parts.index("## Method")
        return "\n".join(parts[:i]) + "\n" + text + "\n" + "\n".join(parts[i:])
    return document.rstrip("\n") + "\n\n" + text


def run(args: argparse.Namespace) -> list[str]:
    sizes = QUICK if args.quick else FULL
    if args.seconds:
        sizes = Sizes(sizes.packages, sizes.files_per_package, args.seconds, sizes.warmup)
    if args.packages:
        sizes = Sizes(args.packages, sizes.files_per_package, sizes.seconds, sizes.warmup)
    kept = args.keep / "bench.json" if args.keep else None
    if kept is not None and kept.exists():
        saved = json.loads(kept.read_text(encoding="utf-8"))
        home = args.keep
        cat = Catalogue(args.postgres, home, url=saved["url"])
        facts = saved["facts"]
        log(f"bench: reusing catalogue {cat.url.rsplit('/', 1)[-1]} under {home}")
        # kept from an earlier run: migrated to this code's schema first (pages read the tables
        # of later migrations; without them every package page failed)
        cat.preserve("db", "upgrade")
    else:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        home = args.keep or Path(tempfile.mkdtemp(prefix="preserve-bench-web-"))
        cat = Catalogue(args.postgres, home)
        facts = None
    server = None
    try:
        if facts is None:
            log(f"bench: catalogue {cat.url.rsplit('/', 1)[-1]} under {home}")
            set_up(cat)
            facts = fill(cat, sizes)
            from preserve.config.settings import Settings

            from preserve.bootstrap import bootstrap
            from preserve.services import accounts

            app = bootstrap(Settings.from_env(cat.env))
            try:
                accounts.create_user(
                    app, "bench", password=PASSWORD,
                    memberships=dict.fromkeys(ORGANISATIONS, "viewer"),
                )  # fmt: skip
            finally:
                app.close()
            if kept is not None:
                kept.write_text(json.dumps({"url": cat.url, "facts": facts}), encoding="utf-8")
        server = Server(cat, workers=args.workers, threads=args.threads)
        clients = [Client(server.port, "bench") for _ in range(args.users)]
        searches = time_searches(clients[0])
        results = []
        for name, paths in pages(facts).items():
            log(f"bench: {name} ...")
            result = measure_page(name, clients, paths, sizes)
            log(f"bench:   median {result.median_ms:.0f} ms, p95 {result.p95_ms:.0f} ms")
            results.append(result)
        for c in clients:
            c.conn.close()
        load = os.getloadavg()
        run_facts = {
            "When": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "Machine": f"{os.cpu_count()} CPU cores; PostgreSQL and the load generator on the "
            f"same machine (load average {load[0]:.2f} at the end)",
            "Catalogue": f"{facts['packages']:,} packages, {facts['files']:,} files, "
            f"{facts['copies']:,} copies, {facts['events']:,} events in 4 organisations and "
            f"12 collections; loaded with COPY in {facts['seconds']} s (search indexes built "
            "after the load)",
            "Server": f"gunicorn --worker-class gthread --workers {args.workers} --threads "
            f"{args.threads} on 127.0.0.1",
            "Load": f"{args.users} users (threads, each its own session and keep-alive "
            f"connection), no pause between requests, {sizes.seconds:.0f} s per page after "
            f"{sizes.warmup} warm-up requests each; the person is a viewer in every "
            "organisation (sees all packages)",
            "Command": "python -m bench.web " + " ".join(args.argv),
        }
        notes = [
            "The dashboard's aggregates (holdings, copies, coverage, formats over 1,000,000 "
            "files) are kept in each server process for 60 s per set of visible organisations "
            "(preserve/services/dashboard.py); the warm-up computes them, so the table shows a "
            "dashboard within that time. The slowest request (Max) includes a recount where "
            "one happened.",
            "Counts on the package list and search stop after 1,000 matches (or the end of "
            "the page asked for): beyond, the page says 'More than 1,000 packages' with a link "
            "that counts them all (count=exact; in the API exact_count=true). An exact count of "
            "a word in nearly every package takes about 0.1 s here; a capped one a few ms.",
            f"Load average {load[0]:.2f} at the end of the run: other work on the machine "
            "shares its cores with the server, PostgreSQL and the load generator.",
            "Search on PostgreSQL reads one search document per package (migration 0007: "
            "table search_documents, the package's own words and its current files' names, "
            "PUIDs, format names and MIME types, deduplicated, kept by statement-level "
            "triggers), one GIN index over the packages instead of one over the files, and the "
            "package's own words alone beside it (column own, its own GIN index). Relevance: "
            "the packages that match by their own words first, then those that match by their "
            "files' words, each newest first, from two ordered, limited queries (the second "
            "only when the first ends on the page); no parallel workers for a page of results. "
            "Before (exact counts of both kinds, own words parsed again per package, parallel "
            "workers): 68-251 ms per search alone, p95 1,533 ms under load.",
        ]
        return render(results, run_facts, notes, searches)
    finally:
        if server is not None:
            server.stop()
        if kept is None:
            cat.close()
            shutil.rmtree(home, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2,000 packages, 2 s per page")
    p.add_argument("--packages", type=int, default=None, help="packages to load (100,000)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per page (20)")
    p.add_argument("--users", type=int, default=10, help="concurrent users (10)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (2)")
    p.add_argument("--threads", type=int, default=8, help="threads per worker (8)")
    p.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="a server URL that may CREATE DATABASE"
    )
    p.add_argument("--merge", type=Path, default=None, help="replace the section of this document")
    p.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the catalogue (database and home) in this folder and use it again next time "
        "instead of loading one (drop it with DROP DATABASE and rm -r when done)",
    )
    args = p.parse_args(argv)
    args.argv = argv
    return measure_and_merge(args, run, SECTION)


def measure_and_merge(
    args: argparse.Namespace, measure: Callable[[argparse.Namespace], list[str]], section: str
) -> int:
    """Run a bench's ``measure`` (SIGTERM interrupts it like Ctrl-C, so it cleans up), print its
    section and, with ``--merge``, put it into that document in place of ``section``; the
    exit code (1: a BenchError, 130: interrupted)."""

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        lines = measure(args)
    except BenchError as exc:
        log(f"bench: error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130
    print("\n".join(lines))
    if args.merge is not None:
        old = args.merge.read_text(encoding="utf-8") if args.merge.exists() else "# Benchmarks\n"
        args.merge.write_text(merge_section(old, lines, section), encoding="utf-8")
        log(f"bench: merged into {args.merge}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
