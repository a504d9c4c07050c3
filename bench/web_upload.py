"""Upload throughput and server memory of the tus endpoint (issue 11's target: a 2 GB file at
200 MB/s or more on loopback, the server under 200 MB).

A fresh repository (SQLite, a temporary PRESERVE_HOME), served by ``preserve serve`` (gunicorn,
gthread, no embedded workers) on a free loopback port; one file of ``--size`` bytes uploaded
through ``/uploads/`` in ``--chunk`` PATCHes by a plain HTTP client (http.client, one
connection, the same random 32 MiB block sent again and again so the client costs nothing);
then the server processes' peak resident memory (VmHWM in /proc/<pid>/status: the gunicorn
master and its worker). Prints the Upload section of docs/benchmarks.md (Markdown).

    python -m bench.web_upload                       # 2 GiB in 32 MiB chunks
    python -m bench.web_upload --size 256M --runs 1  # a quick look
    python -m bench.web_upload --merge docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

SECTION = "## Upload (tus)"
MiB = 1024 * 1024
SIZES = {"K": 1024, "M": MiB, "G": 1024 * MiB}


def size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2G, 512M)")
    return int(m.group(1)) * SIZES.get(m.group(2).upper(), 1)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def preserve(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "preserve.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def setup(home: Path) -> tuple[dict[str, str], str, str]:
    """A repository with a collection, an archivist, a personal token and an open transfer:
    (environment, token, transfer id)."""
    env = {
        **os.environ,
        "PRESERVE_HOME": str(home),
        "PRESERVE_DATABASE_URL": f"sqlite:///{home / 'catalogue.sqlite3'}",
        "PRESERVE_UPLOAD_MAX_SIZE": str(64 * 1024**3),
    }
    env.pop("PRESERVE_BROKER_URL", None)
    preserve(env, "init")
    preserve(env, "organisations", "add", "bench", "--name", "Bench")
    preserve(env, "collections", "add", "uploads", "--organisation", "bench")
    from preserve.config.settings import Settings

    from preserve.bootstrap import bootstrap
    from preserve.services import accounts, tokens, transfers

    app = bootstrap(Settings.from_env(env))
    try:
        user = accounts.create_user(
            app, "bench", password="benchmark password", memberships={"bench": "archivist"}
        )
        principal = accounts.principal_for(app, user.user_id)
        assert principal is not None
        text, _info = tokens.create_token(app, principal, "bench")
        transfer = transfers.create_transfer(
            app, principal, collection="bench/uploads", name="bench"
        )
    finally:
        app.close()
    return env, text, transfer.id


def wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"preserve serve exited {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("preserve serve did not answer")


def stop_server(server: subprocess.Popen[bytes], patience: float = 60) -> None:
    """Stop a ``preserve serve`` started in its own session: SIGTERM, then, after ``patience``
    seconds, SIGKILL to its whole process group (the gunicorn workers too)."""
    server.terminate()
    try:
        server.wait(timeout=patience)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)
        server.wait()


def server_pids(root: int) -> list[int]:
    """The server process and its children (gunicorn's master and worker)."""
    found = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent in found and int(entry.name) not in found:
                found.append(int(entry.name))
    return found


def peak_rss(pid: int) -> int:
    """VmHWM: the peak resident set of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def upload(port: int, bearer: str, transfer_id: str, total: int, chunk: int) -> float:
    """Seconds to create the upload and send ``total`` bytes in ``chunk`` PATCHes."""
    block = os.urandom(chunk)
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("transfer_id", transfer_id), ("relativePath", f"bench/{time.time_ns()}.bin"))
    )
    common = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {bearer}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request(
        "POST",
        "/uploads/",
        headers={**common, "Upload-Length": str(total), "Upload-Metadata": meta},
    )
    created = conn.getresponse()
    created.read()
    if created.status != 201:
        raise RuntimeError(f"POST /uploads/ answered {created.status}")
    location = created.getheader("Location") or ""
    offset = 0
    while offset < total:
        n = min(chunk, total - offset)
        conn.request(
            "PATCH",
            location,
            body=memoryview(block)[:n],
            headers={
                **common,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(n),
            },
        )
        answer = conn.getresponse()
        answer.read()
        if answer.status != 204:
            raise RuntimeError(f"PATCH answered {answer.status} at offset {offset}")
        offset = int(answer.getheader("Upload-Offset") or 0)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def measure(args: argparse.Namespace) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="bench-web-upload-", dir=args.workdir))
    port = free_port()
    try:
        env, bearer, transfer_id = setup(work / "home")
        log(f"serving on 127.0.0.1:{port} (home {work / 'home'})")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "preserve.cli",
                "serve",
                "--no-workers",
                "--bind",
                f"127.0.0.1:{port}",
                "--server",
                args.server,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "serve.log", "wb"),  # noqa: SIM115 - closed with the process
            start_new_session=True,
        )
        try:
            wait_for(port, server)
            rates = []
            for run in range(args.runs):
                seconds = upload(port, bearer, transfer_id, args.size, args.chunk)
                rate = args.size / seconds / 1e6
                rates.append(rate)
                log(
                    f"run {run + 1}: {args.size / 1e6:,.0f} MB in {seconds:.2f} s: {rate:,.0f} MB/s"
                )
            pids = server_pids(server.pid)
            peaks = {pid: peak_rss(pid) for pid in pids}
        finally:
            stop_server(server)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rates.sort()
    median = rates[len(rates) // 2]
    worst_process = max(peaks.values()) / MiB
    cores = os.cpu_count()
    load = os.getloadavg()[0]
    return [
        SECTION,
        "",
        f"`python -m bench.web_upload --size {args.size // MiB}M --chunk {args.chunk // MiB}M "
        f"--runs {args.runs} --server {args.server}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"({cores} cores, load {load:.2f} at the end): one file through `/uploads/` served by "
        f"`preserve serve --server {args.server}` on loopback, SQLite catalogue, local disk.",
        "",
        "| what | result | target |",
        "| --- | --- | --- |",
        f"| throughput, {args.size / 1e9:.1f} GB in {args.chunk // MiB} MiB PATCHes "
        f"(median of {len(rates)}) | {median:,.0f} MB/s (runs: "
        + ", ".join(f"{r:,.0f}" for r in rates)
        + ") | ≥ 200 MB/s |",
        f"| server peak RSS (VmHWM, largest process of {len(peaks)}) | {worst_process:,.0f} MiB "
        f"(all: {', '.join(f'{v / MiB:,.0f}' for v in peaks.values())} MiB) | < 200 MB |",
        "",
        "Each PATCH is read a MiB at a time, written, flushed to disk (fdatasync), then its "
        "offset committed: the rate includes one flush per chunk. Memory stays flat whatever "
        "the file's size.",
        "",
    ]


def merge_section(document: str, lines: Sequence[str]) -> str:
    """``document`` with its Upload section replaced by ``lines`` (else appended)."""
    text = "\n".join(lines).rstrip("\n") + "\n"
    parts = document.split("\n")
    if SECTION in parts:
        start = parts.index(SECTION)
        end = next(
            (i for i in range(start + 1, len(parts)) if parts[i].startswith("## ")), len(parts)
        )
        rest = "\n".join(parts[end:])
        return "\n".join(parts[:start]) + "\n" + text + ("\n" + rest if rest else "")
    return document.rstrip("\n") + "\n\n" + text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.web_upload", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--size", type=size, default=2 * 1024 * MiB, help="the file's size (2G)")
    p.add_argument("--chunk", type=size, default=32 * MiB, help="bytes per PATCH (32M)")
    p.add_argument("--runs", type=int, default=3, help="uploads (3); the median is reported")
    p.add_argument(
        "--server", choices=("gunicorn", "waitress"), default="gunicorn", help="(gunicorn)"
    )
    p.add_argument("--workdir", type=Path, default=None, help="where the repository goes")
    p.add_argument("--keep", action="store_true", help="keep the repository afterwards")
    p.add_argument("--merge", type=Path, default=None, help="replace the Upload section here")
    args = p.parse_args(argv)
    lines = measure(args)
    print("\n".join(lines))
    if args.merge is not None:
        old = args.merge.read_text(encoding="utf-8") if args.merge.exists() else "# Benchmarks\n"
        args.merge.write_text(merge_section(old, lines), encoding="utf-8")
        log(f"merged into {args.merge}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
