"""What the upload tests share: the app served over real HTTP on a loopback port (werkzeug's
threaded server in a thread), personal tokens, a transfer, and a tuspy uploader speaking
SHA-256 checksums."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from preserve.web import create_app
from tusclient.client import TusClient
from tusclient.storage.interface import Storage
from tusclient.uploader import Uploader
from werkzeug.serving import make_server

from preserve.services import accounts, tokens, transfers
from preserve.services.access import Principal
from tests.web.conftest import Site


class Stream(io.BytesIO):
    """A file's bytes for tuspy, which closes the stream it fingerprints: this one stays open."""

    def close(self) -> None:
        pass


class MemoryStorage(Storage):
    """tuspy's record of upload URLs by fingerprint (what a browser's localStorage holds)."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def get_item(self, key: str) -> str | None:
        return self.items.get(key)

    def set_item(self, key: str, value: str) -> None:
        self.items[key] = value

    def remove_item(self, key: str) -> None:
        self.items.pop(key, None)


class Sha256Uploader(Uploader):
    """tuspy's uploader with SHA-256 chunk checksums (its default is SHA-1)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@dataclass
class Served:
    app: Flask
    url: str  # http://127.0.0.1:PORT

    @property
    def uploads(self) -> str:
        return f"{self.url}/uploads/"


@contextmanager
def serve(app: Flask) -> Iterator[Served]:
    """The app on a free loopback port, answering in threads, until the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join()


def app_with(site: Site, **overrides: Any) -> Flask:
    """The site's app replaced by one over the same repository with some settings changed
    (the old one's catalogue connections closed; the site's fixture closes the new one's)."""
    old = site.app
    app = create_app(site.settings.with_overrides(**overrides))
    app.config["TESTING"] = True
    site.app = app
    old.extensions["preserve"].close()
    return app


def principal(site: Site, name: str) -> Principal:
    found = accounts.principal_for(site.application, site.users[name])
    assert found is not None
    return found


def token(site: Site, name: str) -> str:
    text, _info = tokens.create_token(site.application, principal(site, name), "tests")
    return text


def open_transfer(site: Site, who: str = "ann", **options: Any) -> transfers.TransferRecord:
    options.setdefault("collection", "ours/photos")
    options.setdefault("name", "photos-1923")
    return transfers.create_transfer(site.application, principal(site, who), **options)


def client(served: Served, bearer: str) -> TusClient:
    return TusClient(served.uploads, headers={"Authorization": f"Bearer {bearer}"})


def metadata(transfer_id: str, path: str, **more: str) -> dict[str, str]:
    return {"transfer_id": transfer_id, "relativePath": path, **more}
