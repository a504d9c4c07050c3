"""Every bad input gets one clear line on stderr, a non-zero exit code, no traceback, and leaves
nothing half-written (no package row, no stored object, no staging folder)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest

from bench.soak import traceback_of_preserve
from tests.functional.cli import Repo

REPO_ROOT = Path(__file__).resolve().parents[2]


def assert_clean_failure(repo: Repo, result, *needles: str, code: int | None = None) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0, result.stdout
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []


def test_missing_path(repo: Repo, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = repo.run("ingest", missing, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, str(missing), "no such file or folder", code=2)


def test_unknown_collection(repo: Repo, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    result = repo.run("ingest", tmp_path / "a.txt", "--collection", "nope", ok=False)
    assert_clean_failure(repo, result, "no collection 'nope' in organisation 'default'", code=3)


def test_empty_folder(repo: Repo, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    result = repo.run("ingest", empty, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "nothing to ingest")


def test_symlinks_are_not_followed_but_warned(repo: Repo, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "real.txt").write_text("real")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the delivery")
    (d / "link.txt").symlink_to(secret)
    result = repo.json("ingest", d, "--collection", "photos")
    package = result["packages"][0]
    assert [f["path"] for f in package["file_details"]] == ["data/real.txt"]
    assert any(
        w["code"] == "symlink-skipped" and w["path"] == "link.txt" for w in package["warnings"]
    )
    # a symlink given as PATH is refused
    result = repo.run("ingest", d / "link.txt", "--collection", "photos", ok=False)
    assert result.exit_code == 2 and "symbolic link" in result.stderr


def test_zero_byte_files_and_empty_folders_are_warned(repo: Repo, tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "empty-dir").mkdir(parents=True)
    (d / "zero.bin").write_bytes(b"")
    (d / "text.txt").write_text("x")
    result = repo.json("ingest", d, "--collection", "photos")
    package = result["packages"][0]
    codes = {(w["code"], w["path"]) for w in package["warnings"]}
    assert ("empty-directory", "empty-dir") in codes
    assert ("empty-file", "zero.bin") in codes
    zero = next(f for f in package["file_details"] if f["path"] == "data/zero.bin")
    assert zero["puid"] == "UNKNOWN"
    assert repo.json("fixity", "--all")["ok"] is True


def test_names_with_newline_and_percent_round_trip(repo: Repo, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "100%.txt").write_text("percent")
    (d / "two\nlines.txt").write_text("newline")
    (d / "%0A literal.txt").write_text("looks encoded")
    result = repo.json("ingest", d, "--collection", "photos")
    package_id = result["packages"][0]["package_id"]
    manifest = next(
        p for p in repo.storage_root.rglob("manifest-sha512.txt") if package_id in str(p)
    ).read_text()
    assert "data/100%25.txt" in manifest
    assert "data/two%0Alines.txt" in manifest
    assert "data/%250A literal.txt" in manifest
    assert repo.json("fixity", "--package", package_id)["ok"] is True
    out = tmp_path / "out"
    repo.run("export", package_id, out)
    assert (out / "data" / "two\nlines.txt").read_text() == "newline"


def test_nfc_nfd_collision_is_refused(repo: Repo, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / unicodedata.normalize("NFC", "café.txt")).write_text("nfc")
    (d / unicodedata.normalize("NFD", "café.txt")).write_text("nfd")
    result = repo.run("ingest", d, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "café.txt")


def test_nfd_name_alone_is_kept_byte_for_byte(repo: Repo, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    nfd = unicodedata.normalize("NFD", "Núñez.txt")
    (d / nfd).write_text("nfd only")
    package = repo.json("ingest", d, "--collection", "photos")["packages"][0]
    assert [f["path"] for f in package["file_details"]] == [f"data/{nfd}"]
    assert any(k.endswith(f"data/{nfd}") for k in repo.stored_keys())


def test_invalid_bag_lists_every_problem(repo: Repo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    bag_dir = tmp_path / "bag"
    repo.run("bag", "make", src, bag_dir)
    (bag_dir / "data" / "a.txt").write_text("changed")
    (bag_dir / "data" / "b.txt").unlink()
    result = repo.run("ingest", bag_dir, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "invalid bag", "data/a.txt", "data/b.txt")


def _zip_with(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_with_traversal_is_refused(repo: Repo, tmp_path: Path) -> None:
    archive = _zip_with(tmp_path / "evil.zip", {"ok.txt": b"fine", "../escape.txt": b"evil"})
    result = repo.run("ingest", archive, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "evil.zip", "escape.txt")
    assert not (tmp_path / "escape.txt").exists()
    assert not (repo.home / "escape.txt").exists()


def test_tar_with_absolute_member_is_refused(repo: Repo, tmp_path: Path) -> None:
    archive = tmp_path / "abs.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("/tmp/preserve-absolute-member.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))
    result = repo.run("ingest", archive, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "abs.tar")
    assert not Path("/tmp/preserve-absolute-member.txt").exists()


def test_decompression_bomb_is_refused(repo: Repo, tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.bin", "w") as f:
        chunk = bytes(1 << 20)
        for _ in range(64):
            f.write(chunk)
    result = repo.run("ingest", archive, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "bomb.zip")


def test_bad_metadata_csv(repo: Repo, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    csv = tmp_path / "meta.csv"
    csv.write_text("path,colour\na.txt,blue\n")
    result = repo.run("ingest", tmp_path / "a.txt", "--collection", "photos", "--metadata", csv,
                      ok=False)  # fmt: skip
    assert_clean_failure(repo, result, "meta.csv", code=2)


def test_a_metadata_csv_without_a_row_for_a_path_is_refused(repo: Repo, tmp_path: Path) -> None:
    """Before, the package was stored without its description and the ingest exited 0."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f.txt").write_text(name)
    csv = tmp_path / "meta.csv"
    csv.write_text("path,title\na,Album A\n")
    result = repo.run("ingest", tmp_path / "a", tmp_path / "b", "--collection", "photos",
                      "--metadata", csv, ok=False)  # fmt: skip
    assert_clean_failure(repo, result, "no row for", str(tmp_path / "b"), code=2)
    assert str(tmp_path / "a") + "," not in result.stderr  # only the missing one is named


def test_unreachable_storage_location_registers_nothing(repo: Repo, tmp_path: Path) -> None:
    url = "s3://nowhere/prefix?endpoint_url=http://127.0.0.1:9&addressing_style=path"
    repo.extra_env.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                           "AWS_DEFAULT_REGION": "us-east-1"})  # fmt: skip
    result = repo.run("locations", "add", "offsite", url, ok=False)
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert "127.0.0.1:9" in result.stderr
    assert "offsite" not in repo.run("locations", "list").stdout


def test_storage_becoming_unreachable_during_ingest(
    repo: Repo, tmp_path: Path, s3_bucket_url: str
) -> None:
    """The location was fine when added, then goes away: the ingest fails after retrying and
    nothing is registered or left on the other location."""
    repo.extra_env.update(_aws_env())
    repo.run("locations", "add", "offsite", s3_bucket_url)
    repo.run("collections", "add", "both", "--location", "default", "--location", "offsite")
    broken = (
        s3_bucket_url.split("endpoint_url=")[0]
        + "endpoint_url=http://127.0.0.1:9&addressing_style=path"
    )
    _retarget_location(repo, "offsite", broken)
    (tmp_path / "a.txt").write_text("a")
    result = repo.run("ingest", tmp_path / "a.txt", "--collection", "both", ok=False)
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr
    assert "127.0.0.1:9" in result.stderr
    assert [p for p in repo.packages() if p["status"] == "stored"] == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []


def _aws_env() -> dict[str, str]:
    return {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                       "AWS_DEFAULT_REGION") if k in os.environ}  # fmt: skip


def _retarget_location(repo: Repo, name: str, url: str) -> None:
    """Point a registered location at another URL behind preserve's back (an outage)."""
    import sqlalchemy as sa

    engine = sa.create_engine(repo.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE storage_locations SET url = :u WHERE name = :n"),
                     {"u": url, "n": name})  # fmt: skip
    engine.dispose()


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat_file.parent.name))
    return found


def _cli_subprocess(repo: Repo, *args: str | Path, preexec=None, **kwargs):  # type: ignore[no-untyped-def]
    env = {**os.environ, **repo.env}
    return subprocess.Popen(
        [sys.executable, "-m", "preserve.cli", *map(str, args)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
        **kwargs,
    )


def _many_files(folder: Path, count: int, size: int) -> Path:
    """A delivery of ``count`` random files of ``size`` bytes in four subfolders."""
    for i in range(count):
        sub = folder / f"f{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"file{i}.bin").write_bytes(os.urandom(size))
    return folder


def test_full_disk_fails_cleanly(repo: Repo, tmp_path: Path) -> None:
    """A file-size limit makes every write beyond 1 MB fail like a full disk (EFBIG)."""
    import resource

    d = tmp_path / "big"
    d.mkdir()
    (d / "big.bin").write_bytes(os.urandom(3 << 20))

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = _cli_subprocess(repo, "ingest", d, "--collection", "photos", preexec=limit)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert "Traceback" not in err
    assert "full" in err or "space" in err, err
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 2.5, 4.0])
def test_kill_9_at_any_point_then_rerun_completes(repo: Repo, tmp_path: Path, delay: float) -> None:
    """kill -9 an ingest part way; the next run cleans up and completes the work."""
    # enough files for identification helper processes (preserve.formats.PARALLEL_THRESHOLD)
    d = _many_files(tmp_path / "many", 320, 50_000)
    proc = _cli_subprocess(repo, "ingest", d, "--collection", "photos")
    helpers: set[int] = set()
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        helpers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # identification helpers must not outlive a killed ingest
    deadline = time.monotonic() + 10
    while helpers and time.monotonic() < deadline:
        helpers = {pid for pid in helpers if Path(f"/proc/{pid}").exists()}
        time.sleep(0.1)
    assert not helpers, f"helper processes outlived the killed ingest: {helpers}"
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    result = repo.json("ingest", d, "--collection", "photos")
    assert result["failures"] == []
    packages = repo.packages()
    stored = [p for p in packages if p["status"] == "stored"]
    assert len(stored) == 1, packages
    assert len(packages) == 1, packages  # the interrupted one was cleaned up
    prefix = f"default/photos/{stored[0]['id']}/"
    assert all(k.startswith(prefix) for k in repo.stored_keys())
    assert repo.staging_entries() == []
    assert _temporary_files(repo) == []  # a kill while placing files leaked them once
    assert repo.json("fixity", "--all")["ok"] is True


def _temporary_files(repo: Repo) -> list[Path]:
    tmp = repo.storage_root / ".preserve-tmp"
    return [p for p in tmp.rglob("*") if not p.is_dir()] if tmp.exists() else []


def test_what_a_killed_ingest_left_is_cleaned_even_if_its_pid_was_reused(
    repo: Repo, tmp_path: Path
) -> None:
    """A killed ingest's row names its process by pid and start time: a live process that got
    the same pid later (here pid 1) is not its owner. Its temporary files on the local
    location, named after the dead process, are removed too; a live process's are kept."""
    import socket

    import sqlalchemy as sa

    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "a.txt").write_text("a")
    package_id = repo.json("ingest", tmp_path / "first", "--collection", "photos")["packages"][0][
        "package_id"
    ]
    engine = sa.create_engine(repo.database_url)
    with engine.begin() as conn:  # as a kill -9 during the ingest of process 1 would leave it
        conn.execute(
            sa.text(
                "UPDATE packages SET status = 'ingesting', ingest_host = :host, ingest_pid = 1, "
                "ingest_process_started = :started WHERE id = :id"
            ),
            {"host": socket.gethostname(), "started": time.time() - 3600, "id": package_id},
        )
    engine.dispose()
    tmp = repo.storage_root / ".preserve-tmp"
    gone = subprocess.Popen(["true"])  # a process that has come and gone
    gone.wait()
    leftover = tmp / f"{gone.pid}-{int(time.time()) - 60}@{socket.gethostname()}"
    leftover.mkdir(parents=True)
    (leftover / "0123-0").write_bytes(os.urandom(100_000))
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        from preserve.processes import process_start_time

        live = (
            tmp
            / f"{sleeper.pid}-{int(process_start_time(sleeper.pid) or 0)}@{socket.gethostname()}"
        )
        live.mkdir()
        (live / "busy").write_bytes(b"x")

        (tmp_path / "second").mkdir()
        (tmp_path / "second" / "b.txt").write_text("b")
        result = repo.json("ingest", tmp_path / "second", "--collection", "photos")

        assert result["recovered"] == [package_id]
        assert not leftover.exists()
        assert (live / "busy").exists()
        assert [p["status"] for p in repo.packages()] == ["stored"]
        assert not any(package_id in k for k in repo.stored_keys())
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.2, 0.6, 1.2])
def test_ctrl_c_stops_cleanly_without_tracebacks(repo: Repo, tmp_path: Path, delay: float) -> None:
    """Ctrl-C reaches the whole process group, identification helpers included: the ingest
    exits 130 with one line, no helper prints a traceback, and nothing is left behind."""
    d = _many_files(tmp_path / "many", 1_500, 20_000)  # more than a second of work
    proc = _cli_subprocess(repo, "ingest", d, "--collection", "photos", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the ingest finished before the interruption")  # a fast machine
    if "1 package stored" in err or out.startswith("stored "):  # Ctrl-C after the commit
        pytest.skip("the ingest was stored before the interruption")
    # 130, or death by SIGINT itself when the signal lands while the interpreter starts or
    # ends: a shell shows both as 130. Python's own start-up (before the first line of preserve
    # runs and can set a handler) prints a traceback of its own and may exit 1: nothing of
    # preserve ran then, and nothing may be left behind either way
    assert not traceback_of_preserve(err), err
    if "Traceback" not in err and "Fatal Python error" not in err:
        assert proc.returncode in (130, -signal.SIGINT), err
    assert repo.packages() == [] and repo.stored_keys() == []
    assert repo.staging_entries() == []


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.6, 1.5])
def test_sigterm_stops_cleanly_like_ctrl_c(repo: Repo, tmp_path: Path, delay: float) -> None:
    """SIGTERM (what systemd, docker stop and Kubernetes send) rolls back like Ctrl-C: exit 143,
    one line, nothing left behind; the next run has nothing to recover."""
    d = _many_files(tmp_path / "many", 1_500, 20_000)  # more than a second of work
    proc = _cli_subprocess(repo, "ingest", d, "--collection", "photos")
    try:
        out, err = proc.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the ingest finished before the signal")  # a fast machine
    if "1 package stored" in err or out.startswith("stored "):  # the signal came after the
        pytest.skip("the ingest was stored before the signal")  # final commit
    # 143, or death by SIGTERM itself when it lands before the interpreter set its handler
    assert proc.returncode in (143, -signal.SIGTERM), err
    assert not traceback_of_preserve(err), err
    assert repo.packages() == [] and repo.stored_keys() == [], err
    assert repo.staging_entries() == []
    result = repo.json("ingest", d, "--collection", "photos")
    assert result["recovered"] == [] and result["stored"] == 1


@pytest.mark.parametrize(
    "bag",
    [
        "v0.97/invalid/out-of-scope-file-paths-using-dot-notation",
        "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path",
        "v0.97/invalid/corrupt-data-file",
    ],
)
def test_unsafe_or_corrupt_incoming_bags_are_refused(
    repo: Repo, tmp_path: Path, testdata: Path, bag: str
) -> None:
    import shutil

    copy = tmp_path / "deliveries" / "incoming"
    shutil.copytree(testdata / "bagit-conformance-suite" / bag, copy, symlinks=True)
    result = repo.run("ingest", copy, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "invalid bag")
    expected = "checksum-mismatch" if "corrupt" in bag else "unsafe-path"
    assert expected in result.stderr


def test_zipped_bag_is_unpacked_validated_and_repackaged(repo: Repo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    bag_dir = tmp_path / "mybag"
    repo.run("bag", "make", src, bag_dir)
    archive = tmp_path / "mybag.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(bag_dir.rglob("*")):
            if f.is_file():
                zf.write(f, Path("mybag") / f.relative_to(bag_dir))
    package = repo.json("ingest", archive, "--collection", "photos")["packages"][0]
    assert [f["path"] for f in package["file_details"]] == ["data/a.txt"]
    events = [e["event_type"] for e in repo.json("show", package["package_id"])["events"]]
    assert "unpacking" in events and "validation" in events


def test_special_files_are_refused_or_skipped(repo: Repo, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = repo.run("ingest", fifo, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "pipe", "not a regular file or folder", code=2)
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("a")
    os.mkfifo(d / "inner-pipe")
    package = repo.json("ingest", d, "--collection", "photos")["packages"][0]
    assert [f["path"] for f in package["file_details"]] == ["data/a.txt"]
    assert any(w["code"] == "special-file-skipped" for w in package["warnings"])


def test_names_with_leading_and_trailing_spaces_round_trip(repo: Repo, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / " leading.txt").write_text("l")
    (d / "trailing.txt ").write_text("t")
    package_id = repo.json("ingest", d, "--collection", "photos")["packages"][0]["package_id"]
    assert repo.json("fixity", "--package", package_id)["ok"] is True
    out = tmp_path / "out"
    repo.run("export", package_id, out)
    assert (out / "data" / "trailing.txt ").read_text() == "t"


def test_a_name_that_is_not_utf8_is_refused_with_its_bytes(repo: Repo, tmp_path: Path) -> None:
    d = tmp_path / "latin1"
    d.mkdir()
    (d / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"x")
    result = repo.run("ingest", d, "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "not valid UTF-8")
    assert "caf\\xe9.txt" in result.stderr and "\\udce9" not in result.stderr
    assert result.stderr.count("not valid UTF-8") == 1  # one line, not a log line and an error


def test_an_empty_path_is_refused_not_read_as_the_current_folder(
    repo: Repo, tmp_path: Path
) -> None:
    """`preserve ingest "$UNSET"` must not preserve whatever folder the script runs in."""
    result = repo.run("ingest", "", "--collection", "photos", ok=False)
    assert_clean_failure(repo, result, "an empty value was given", code=2)


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "{d}", "--collection", ""),
        ("ingest", "{d}", "--collection", " "),
        ("ingest", "{d}", "--collection", "photos", "--organisation", ""),
        ("ingest", "{d}", "--collection", "photos", "--metadata", ""),
        ("export", "some-package", ""),
        ("export", "", "{tmp}/out"),
        ("show", ""),
        ("identify", ""),
        ("bag", "validate", ""),
        ("fixity", "--package", ""),
        ("fixity", "--collection", ""),
        ("collections", "add", ""),
    ],
)
def test_every_command_refuses_an_empty_value(
    repo: Repo, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """A script's unset variable must not turn into the current folder, or a blank name."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    filled = [a.format(d=tmp_path / "d", tmp=tmp_path) for a in args]
    result = repo.run(*filled, ok=False)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stderr.count("an empty value was given") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert repo.packages() == []
    assert not (tmp_path / "out").exists()


def test_an_interruption_after_the_final_commit_keeps_the_stored_package(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM landing just after the package became ``stored`` (found by the kill
    test): the roll-back must not delete the objects of a stored package."""
    import preserve.ingest.pipeline as pipeline

    real_register = pipeline.register

    def register_then_interrupt(*args: object, **kwargs: object) -> None:
        real_register(*args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "register", register_then_interrupt)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("hello\n")
    assert repo.run("ingest", tmp_path / "d", "--collection", "photos", ok=False).exit_code == 130
    monkeypatch.setattr(pipeline, "register", real_register)

    assert [p["status"] for p in repo.packages()] == ["stored"]
    assert (
        "already preserved" in repo.run("ingest", tmp_path / "d", "--collection", "photos").stdout
    )
    assert repo.json("fixity", "--all")["ok"] is True
    assert repo.staging_entries() == []
