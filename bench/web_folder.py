"""Does the ingest page stay responsive while a 5,000-file folder is added and uploaded?
(issue 11: "a 5,000-file folder without the page freezing").

A fresh repository (SQLite, a temporary PRESERVE_HOME) served by ``preserve serve`` on a free
loopback port with its embedded workers, as ``make run`` has them (they only start the ingest
once every file has arrived, after the measurement ends). An archivist signs in through the
form in Debian's Chromium (Playwright), opens the ingest page, chooses a folder of ``--files``
small files in nested sub-folders (a few KB each, one in five a PNG) through the page's folder
input and presses Upload and ingest; the run ends when the page says the ingest is queued.

Measured in the page: every long task (a ``longtask`` PerformanceObserver installed before the
page's own scripts), the gaps between animation frames (a requestAnimationFrame loop), the
moments the file list and the status message change, and probe clicks on the page's heading
every second during the upload (from the click's event time to the handler, then to the next
frame). Prints the "Upload of a 5,000-file folder" section of docs/benchmarks.md (Markdown).

    python -m bench.web_folder                          # 5,000 files
    python -m bench.web_folder --quick                  # 200 files: a smoke test
    python -m bench.web_folder --merge docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.web_upload import free_port, log, preserve, stop_server, wait_for

SECTION = "## Upload of a 5,000-file folder"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER = "folderbench"
PASSWORD = "folder benchmark password"
#: "Without the page freezing": no main-thread task, no gap between frames and no probe
#: click's answer (handler run and next frame painted) longer than this.
FREEZE_MS = 1000.0
LONG_MS = 200.0
QUICK_FILES = 200
#: The page's status messages (web/templates/ingest/index.html, English).
COMPLETING = "All files arrived"
QUEUED = ("Waiting for a worker", "Ingesting:", "Ingested.", "The ingest failed")
FAILED = ("Something went wrong", "Some files did not upload", "The server refused")

#: Installed before the page's own scripts: long tasks, frame gaps, probe clicks and the
#: moments the file list (#picked) and the status message (#upload-message) change.
MONITOR = """
(() => {
  const b = (window.__bench = {tasks: [], gaps: [], frames: 0, probes: [], picked: [],
                               messages: [], submitted: null, changed: null});
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.tasks.push([e.startTime, e.duration]);
    }).observe({type: "longtask", buffered: true});
    b.longtaskSupported = true;
  } catch (error) {
    b.longtaskSupported = false;
  }
  let last = null;
  const frame = (now) => {
    if (last !== null && now - last > 50) b.gaps.push([last, now - last]);
    last = now;
    b.frames += 1;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  const watch = (id, into) => {
    const node = document.getElementById(id);
    if (!node) return;
    new MutationObserver(() => into.push([performance.now(), node.textContent])).observe(
      node, {childList: true, characterData: true, subtree: true});
  };
  document.addEventListener("DOMContentLoaded", () => {
    watch("picked", b.picked);
    watch("upload-message", b.messages);
    document.addEventListener("change", (e) => {
      if (e.target.id === "pick-folder" && b.changed === null) b.changed = performance.now();
    }, true);
    document.addEventListener("submit", () => {
      if (b.submitted === null) b.submitted = performance.now();
    }, true);
    const heading = document.querySelector("h1");
    heading.addEventListener("click", (e) => {
      const handled = performance.now();
      requestAnimationFrame(() => {
        b.probes.push([e.timeStamp, handled - e.timeStamp, performance.now() - e.timeStamp]);
      });
    });
  });
})();
"""


@dataclass(frozen=True)
class Folder:
    root: Path
    files: int
    images: int
    folders: int
    size: int


def png(width: int, height: int, seed: int) -> bytes:
    """A small RGB PNG (a gradient with noise, so it does not compress to nothing)."""
    rng = random.Random(seed)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += bytes(((x * 4 + seed) % 256, (y * 5) % 256, rng.randrange(256)))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + chunk(b"IEND", b"")
    )


def make_folder(root: Path, count: int) -> Folder:
    """``count`` files in nested sub-folders of ``root`` (box-NN/series-NN/...): text and CSV
    of 1-8 KB, one file in five a PNG of a few KB; every file's bytes differ."""
    rng = random.Random(11)
    words = [
        "harbour",
        "letter",
        "ledger",
        "plate",
        "survey",
        "minutes",
        "deed",
        "map",
        "quay",
        "ship",
        "tide",
    ]
    per_folder = 50
    folders = set()
    total = 0
    images = 0
    for n in range(count):
        box, series = divmod(n // per_folder, 10)
        folder = root / f"box-{box + 1:02d}" / f"series-{series + 1:02d}"
        if n % 250 >= 200:  # some deeper folders too
            folder = folder / "attachments"
        folder.mkdir(parents=True, exist_ok=True)
        folders.add(folder)
        if n % 5 == 4:
            data = png(rng.randrange(24, 48), rng.randrange(24, 40), n)
            name = f"scan-{n + 1:05d}.png"
            images += 1
        else:
            length = rng.randrange(1024, 8192)
            text = f"item {n + 1}\n" + " ".join(rng.choice(words) for _ in range(length // 6))
            data = text.encode()[:length]
            name = f"item-{n + 1:05d}.{'csv' if n % 5 == 3 else 'txt'}"
        (folder / name).write_bytes(data)
        total += len(data)
    return Folder(root, count, images, len(folders), total)


def setup(home: Path) -> dict[str, str]:
    """A repository with an organisation, a collection and an archivist who signs in with a
    password; the environment of ``preserve serve``."""
    env = {
        **os.environ,
        "PRESERVE_HOME": str(home),
        "PRESERVE_DATABASE_URL": f"sqlite:///{home / 'catalogue.sqlite3'}",
        "PRESERVE_SECURE_COOKIES": "false",
    }
    env.pop("PRESERVE_BROKER_URL", None)
    preserve(env, "init")
    preserve(env, "organisations", "add", "bench", "--name", "Bench")
    preserve(env, "collections", "add", "folders", "--organisation", "bench", "--title", "Folders")
    from preserve.config.settings import Settings

    from preserve.bootstrap import bootstrap
    from preserve.services import accounts

    app = bootstrap(Settings.from_env(env))
    try:
        accounts.create_user(app, USER, password=PASSWORD, memberships={"bench": "archivist"})
    finally:
        app.close()
    return env


@dataclass
class Phase:
    """What the page did between two moments (ms on the page's clock). A task or a frame gap
    that straddles a phase's edge counts for its part inside the phase; ``worst`` is the
    longest whole one touching the phase (what a person waits, used for the verdict)."""

    start: float
    end: float
    longest_task: float
    long_tasks: int
    longest_gap: float
    worst: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / 1000


def phase(data: dict[str, Any], start: float, end: float) -> Phase:
    def inside(items: list[list[float]]) -> list[tuple[float, float]]:
        """(the part inside the phase, the whole) of each entry that overlaps it."""
        return [(min(end, s + d) - max(start, s), d) for s, d in items if s < end and s + d > start]

    tasks = inside(data["tasks"])
    gaps = inside(data["gaps"])
    return Phase(
        start,
        end,
        max((part for part, _ in tasks), default=0.0),
        sum(1 for part, _ in tasks if part > LONG_MS),
        max((part for part, _ in gaps), default=0.0),
        max((whole for _, whole in tasks + gaps), default=0.0),
    )


def first(changes: list[list[Any]], after: float, *starts: str) -> float | None:
    for at, text in changes:
        if at >= after and any(str(text).startswith(s) for s in starts):
            return float(at)
    return None


@dataclass
class Result:
    folder: Folder
    choosing: Phase
    adding: Phase
    uploading: Phase
    probes: list[list[float]]
    requests: dict[str, int]
    outcome: str
    frames: int
    longtask_supported: bool


def drive(url: str, folder: Folder, patience_s: float) -> Result:
    from playwright.sync_api import expect, sync_playwright

    requests: dict[str, int] = {}

    def count(request: Any) -> None:
        key = f"{request.method} {'/uploads/' if '/uploads/' in request.url else 'other'}"
        requests[key] = requests.get(key, 0) + 1

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                base_url=url, locale="en-GB", viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(patience_s * 1000)
            page = context.new_page()
            page.goto("/sign-in")
            page.get_by_label("User name").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda u: "/sign-in" not in u)

            page.add_init_script(MONITOR)
            page.goto("/ingest")
            page.locator("#collection").select_option("bench/folders")
            page.wait_for_timeout(500)  # the page settles before the clock starts
            page.on("request", count)

            # --- adding: from choosing the folder until the list shows every file
            chosen = float(page.evaluate("performance.now()"))
            started = time.perf_counter()
            page.locator("#pick-folder").set_input_files(folder.root)
            shown = f"{folder.files:,} files"
            expect(page.locator("#picked")).to_contain_text(shown, timeout=patience_s * 1000)
            log(f"added {folder.files:,} files in {time.perf_counter() - started:.1f} s")
            data = page.evaluate("window.__bench")
            listed = first(data["picked"], chosen, shown)
            assert listed is not None, data["picked"]
            page.wait_for_timeout(500)

            # --- uploading: from the click until the page says every file arrived; a probe
            # click on the heading each second meanwhile
            page.get_by_role("button", name="Upload and ingest").click()
            # pressing the button scrolled the page: back to the top, where the heading is
            page.evaluate("window.scrollTo(0, 0)")
            box = page.locator("h1").bounding_box()
            assert box is not None
            deadline = time.monotonic() + patience_s
            state: dict[str, Any] = {}
            while time.monotonic() < deadline:
                page.mouse.click(box["x"] + 5, box["y"] + box["height"] / 2)
                state = page.evaluate(
                    "({m: document.getElementById('upload-message').textContent,"
                    " p: document.getElementById('upload-bar').value})"
                )
                message = str(state["m"])
                if message.startswith(QUEUED) or message.startswith(FAILED):
                    break
                time.sleep(1)
            else:
                raise RuntimeError(f"the upload did not end within {patience_s:.0f} s: {state}")
            data = page.evaluate("window.__bench")
            page.remove_listener("request", count)
        finally:
            browser.close()
    submitted = float(data["submitted"])
    arrived = first(data["messages"], submitted, COMPLETING)
    outcome = str(state["m"])
    if arrived is None or not outcome.startswith(QUEUED):
        raise RuntimeError(f"the upload did not complete: the page says {outcome!r}")
    return Result(
        folder,
        phase(data, chosen, float(data["changed"])),
        phase(data, float(data["changed"]), listed),
        phase(data, submitted, arrived),
        [pr for pr in data["probes"] if submitted <= pr[0] <= arrived],
        requests,
        outcome,
        int(data["frames"]),
        bool(data["longtaskSupported"]),
    )


def measure(args: argparse.Namespace) -> tuple[Result, str]:
    work = Path(tempfile.mkdtemp(prefix="bench-web-folder-", dir=args.workdir))
    port = free_port()
    try:
        env = setup(work / "home")
        folder = make_folder(work / "delivery", args.files)
        log(
            f"{folder.files:,} files ({folder.images:,} PNG) in {folder.folders} folders, "
            f"{folder.size / 1e6:.1f} MB; serving on 127.0.0.1:{port} (home {work / 'home'})"
        )
        command = [sys.executable, "-m", "preserve.cli", "serve", "--bind", f"127.0.0.1:{port}"]
        if args.no_workers:
            command.append("--no-workers")
        server = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "serve.log", "wb"),  # noqa: SIM115 - closed with the process
            start_new_session=True,
        )
        try:
            wait_for(port, server)
            result = drive(f"http://127.0.0.1:{port}", folder, args.patience)
        finally:
            stop_server(server)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result, ("--no-workers" if args.no_workers else "its embedded workers")


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report(result: Result, workers: str, argv: Sequence[str]) -> list[str]:
    f, up = result.folder, result.uploading
    before = (result.choosing, result.adding)
    probe_handler = max((pr[1] for pr in result.probes), default=0.0)
    probe_paint = max((pr[2] for pr in result.probes), default=0.0)
    uploads = sum(v for k, v in result.requests.items() if k.endswith("/uploads/"))
    kinds = ", ".join(
        f"{v:,} {k.split()[0]}" for k, v in sorted(result.requests.items()) if k.endswith("/")
    )
    others = ", ".join(
        f"{v:,} {k.split()[0]}" for k, v in sorted(result.requests.items()) if k.endswith("other")
    )
    choosing_ok, adding_ok = (ph.worst <= FREEZE_MS for ph in before)
    uploading_ok = bool(result.probes) and max(up.worst, probe_paint) <= FREEZE_MS
    command = " ".join(["python -m bench.web_folder", *argv])
    load = os.getloadavg()
    return [
        SECTION,
        "",
        "Whether the ingest page stays responsive while a folder of many small files is added "
        "and uploaded through the tus endpoint on loopback (`make bench-web`, "
        '`python -m bench.web_folder`; issue 11). Criterion for "without the page freezing": '
        f"no main-thread task and no gap between frames over {FREEZE_MS / 1000:.0f} s while "
        f"adding or uploading, and every probe click during the upload answered (handler run "
        f"and next frame painted) within {FREEZE_MS / 1000:.0f} s.",
        "",
        f"- **When**: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- **Machine**: {os.cpu_count()} CPU cores shared by the server, Chromium and the "
        f"benchmark (load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} at the end)",
        f"- **Server**: `preserve serve` (gunicorn) with {workers} on 127.0.0.1, SQLite "
        "catalogue, local disk; Chromium (Playwright, headless) on the same machine",
        f"- **Folder**: {f.files:,} files ({f.images:,} PNG images, the rest text and CSV) "
        f"in {f.folders} nested folders, {f.size / 1e6:.1f} MB (1-8 KB each); chosen through "
        "the page's folder input",
        f"- **Command**: {command}",
        "",
        "| what | choosing the folder (Chromium lists it, until the input's change event) "
        f"| adding the files (the page's script, until the list shows {f.files:,} files) "
        "| uploading them (from the click until the page says all files arrived) |",
        "| --- | ---: | ---: | ---: |",
        "| time | "
        + " | ".join(f"{ph.seconds:.1f} s" for ph in before)
        + f" | {up.seconds:.1f} s ({f.files / up.seconds:,.0f} files/s) |",
        "| longest main-thread task | "
        + " | ".join(f"{ph.longest_task:,.0f} ms" for ph in (*before, up))
        + " |",
        f"| long tasks over {LONG_MS:.0f} ms | "
        + " | ".join(f"{ph.long_tasks:,}" for ph in (*before, up))
        + " |",
        "| longest gap between frames | "
        + " | ".join(f"{ph.longest_gap:,.0f} ms" for ph in (*before, up))
        + " |",
        "| clicks on the heading, one a second (slowest: to its handler / to the next "
        f"frame) | — | — | {len(result.probes)} ({probe_handler:,.0f} ms / "
        f"{probe_paint:,.0f} ms) |",
        f"| requests | — | — | {uploads:,} to /uploads/ ({kinds}); {others or 'none'} to the "
        "ingest page's own endpoints |",
        "| longest whole task or frame gap touching the phase | "
        + " | ".join(f"{ph.worst:,.0f} ms" for ph in (*before, up))
        + " |",
        f"| the page does not freeze (nothing over {FREEZE_MS:,.0f} ms) | "
        f"{verdict(choosing_ok)} | {verdict(adding_ok)} | {verdict(uploading_ok)} |",
        "",
        "**Verdict**: the page does not freeze: "
        f"{verdict(choosing_ok and adding_ok and uploading_ok)}.",
        "",
        f"The page ended with “{result.outcome}”. Long tasks come from Chromium's Long Tasks "
        "API (tasks over 50 ms)"
        + ("" if result.longtask_supported else " (**not supported by this Chromium**)")
        + f"; frame gaps from a requestAnimationFrame loop ({result.frames:,} frames). A task "
        "or gap that straddles the input's change event is split at it: the part before is "
        "Chromium turning the folder into the input's files, before any script of the page "
        "runs (a Chromium trace showed Blink handling the file chooser's reply, one File per "
        "file, each asking the browser for its MIME type by extension); the part after, the "
        "page's own change handler (its first slice of files). The ingest itself (a job for "
        "the workers) is not part of these figures.",
        "",
    ]


def merge_section(document: str, lines: Sequence[str]) -> str:
    """``document`` with this section replaced by ``lines``; else inserted after the
    "## Upload (tus)" section, else before "## Method", else at the end."""
    text = "\n".join(lines).rstrip("\n") + "\n"
    parts = document.split("\n")

    def end_of(start: int) -> int:
        return next(
            (i for i in range(start + 1, len(parts)) if parts[i].startswith("## ")), len(parts)
        )

    if SECTION in parts:
        start = parts.index(SECTION)
        end = end_of(start)
    elif "## Upload (tus)" in parts:
        start = end = end_of(parts.index("## Upload (tus)"))
    elif "## Method" in parts:
        start = end = parts.index("## Method")
    else:
        return document.rstrip("\n") + "\n\n" + text
    head = "\n".join(parts[:start]).rstrip("\n")
    rest = "\n".join(parts[end:])
    return head + "\n\n" + text + ("\n" + rest if rest else "")


def files_count(text: str) -> int:
    try:
        n = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of files: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"at least one file, not {n}")
    return n


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.web_folder", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--files", type=files_count, default=5000, help="files in the folder (5000)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_FILES} files: a smoke test")
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="serve without the embedded workers (default: with them, as make run)",
    )
    p.add_argument(
        "--patience", type=float, default=1800, help="seconds to wait for each step (1800)"
    )
    p.add_argument("--workdir", type=Path, default=None, help="where the repository goes")
    p.add_argument("--keep", action="store_true", help="keep the repository afterwards")
    p.add_argument("--merge", type=Path, default=None, help="replace this section there")
    raw = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(raw)
    if not CHROMIUM.exists():
        p.error(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    if args.quick:
        args.files = QUICK_FILES
    try:
        result, workers = measure(args)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    lines = report(result, workers, raw)
    print("\n".join(lines))
    if args.merge is not None:
        old = args.merge.read_text(encoding="utf-8") if args.merge.exists() else "# Benchmarks\n"
        args.merge.write_text(merge_section(old, lines), encoding="utf-8")
        log(f"merged into {args.merge}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
