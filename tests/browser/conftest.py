"""Browser tests (issue 11): Playwright for Python driving Debian's Chromium against the
catalogue served by a real HTTP server, with a real worker on the embedded (filesystem) broker,
so uploads are ingested and thumbnails made as in production.

Marked ``browser``. Without ``/usr/bin/chromium`` they are skipped and say why, loudly; on CI
(``CI=true``, where ``.ci/run`` installs it) a missing Chromium is a failure. axe-core, vendored
under ``vendor/`` (MPL-2.0), is injected through the DevTools protocol, so the strict
Content-Security-Policy stays on while it runs.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = Path("/usr/bin/chromium")
VENDOR = Path(__file__).resolve().parent / "vendor"
PASSWORD = "correct horse battery staple"
#: Generous bounds for things that take seconds (never asserted as timings).
PATIENCE_MS = 120_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(here):
            item.add_marker(pytest.mark.browser)


def pytest_report_header(config: pytest.Config) -> str:
    return f"browser tests: {'chromium ' + str(CHROMIUM) if CHROMIUM.exists() else 'SKIPPED'}"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (
        f"BROWSER TESTS NOT RUN: {CHROMIUM} is missing (apt-get install -y chromium; "
        ".ci/run installs it on CI)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Served:
    """The catalogue on ``url``, its repository, people, and a worker."""

    url: str
    repo: Any
    site: Any
    workers: Any
    tmp: Path
    users: dict[str, str] = field(default_factory=dict)

    def user(self, name: str, role: str | None = "archivist", org: str = "ours", **kw: Any) -> str:
        return self.site.user(name, role, org, **kw)


def _serve(app: Any) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="catalogue", daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One catalogue for the browser tests: organisations ``ours`` (collection ``photos``) and
    ``theirs`` (``letters``), on SQLite, with one worker on the embedded broker."""
    require_chromium()
    from preserve.config.settings import Settings
    from preserve.web import create_app

    from tests.functional.cli import Repo
    from tests.web.conftest import Site
    from tests.workers.conftest import Broker, Workers, broker_env

    tmp = tmp_path_factory.mktemp("browser")
    broker = Broker("filesystem", "", f"preserve-browser-{uuid.uuid4().hex[:8]}")
    repo = Repo(
        home=tmp / "home",
        database_url=f"sqlite:///{tmp / 'catalogue.sqlite3'}",
        extra_env={**broker_env(broker), "PRESERVE_SECURE_COOKIES": "false"},
    )
    repo.run("init")
    repo.run("organisations", "add", "ours", "--name", "Our Museum")
    repo.run("organisations", "add", "theirs", "--name", "Their Archive")
    repo.run("collections", "add", "photos", "--organisation", "ours", "--title", "Photographs")
    repo.run("collections", "add", "letters", "--organisation", "theirs", "--title", "Letters")
    settings = Settings.from_env(repo.env)
    app = create_app(settings)
    site = Site(repo=repo, settings=settings, app=app)
    workers = Workers(repo, broker, tmp)
    workers.start(scheduler=False)
    server, thread = _serve(app)
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", repo, site, workers, tmp)
    finally:
        server.shutdown()
        thread.join(timeout=30)
        workers.stop_all()
        app.extensions["preserve"].close()


@pytest.fixture(scope="session")
def browser(served: Served) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # waits for things that take seconds on a loaded machine (never asserted as timings)
    expect.set_options(timeout=PATIENCE_MS)
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any, served: Served) -> Iterator[Any]:
    ctx = browser.new_context(
        base_url=served.url,
        locale="en-GB",
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )
    ctx.set_default_timeout(PATIENCE_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/sign-in")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """axe-core's violations of ``impacts`` on the page as it is now (WCAG 2.1 A and AA)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate((VENDOR / "axe.min.js").read_text(encoding="utf-8"))
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in found if v["impact"] in impacts]


def delivery(root: Path, *, images: int = 3, pdf: bool = True) -> Path:
    """A folder of small images (in a sub-folder) and a PDF, as a person would upload."""
    import pyvips

    (root / "scans").mkdir(parents=True)
    for i in range(images):
        # a sky-to-sea gradient with a horizon and a few "masts": reads as a photograph in a
        # thumbnail, unlike a flat colour
        xy = pyvips.Image.xyz(480, 320)
        x, y = xy[0], xy[1]
        sky = (y < 150 + 10 * i).ifthenelse(1, 0)
        red = sky.ifthenelse(120 + y / 2, 20 + y / 8)
        green = sky.ifthenelse(160 + y / 3, 60 + y / 6)
        blue = sky.ifthenelse(230 - y / 6, 110 + x / 16)
        masts = ((x % (70 + 15 * i)) < 4).ifthenelse(1, 0) & (y > 60) & sky
        image = red.bandjoin([green, blue])
        image = masts.ifthenelse([40, 35, 30], image).cast("uchar")
        image.pngsave(str(root / "scans" / f"plate-{i + 1}.png"))
    # each delivery differs (the same bytes twice would be refused as a duplicate package)
    (root / "notes.txt").write_text(f"Delivery {root.name} ({uuid.uuid4()})\n", encoding="utf-8")
    if pdf:
        (root / "inventory.pdf").write_bytes(_tiny_pdf("Inventory of the glass plates"))
    return root


def _tiny_pdf(text: str) -> bytes:
    """A valid one-page PDF (written by hand: no PDF library needed)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


__all__ = ["PASSWORD", "Served", "axe_violations", "delivery", "sign_in"]
