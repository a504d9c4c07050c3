"""On a terminal, ingest and fixity draw a progress bar on stderr: one line per stage with its
number ("stage 2/4 storing payload on default"), files counted, bytes where they mean something
(not for identification), a real rate and the time left. Never when stderr is not a terminal,
never with --quiet; with --json the bar is on stderr and stdout stays pure JSON."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.functional.cli import AWS_VARS, Repo

REPO_ROOT = Path(__file__).resolve().parents[2]

#: every payload copy on a local location takes at least this long to verify (a slow disk), so
#: that storing lasts long enough for the bar to be drawn while it is under way
VERIFY_DELAY = 0.3
SLOW_DISK = f"""
import sys, time
from preserve.storage import local

real = local.LocalStorage._hash_copy


def slow(self, tmp, algorithms, key):
    if "/data/" in key:
        time.sleep({VERIFY_DELAY})
    return real(self, tmp, algorithms, key)


local.LocalStorage._hash_copy = slow
from preserve.cli import main

main(sys.argv[1:])
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RATE = re.compile(r"([\d.]+) (B|KB|MB|GB|TB)/s")
PROGRESS = re.compile(r"\d+/\d+ files?\b")
UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def _run_on_a_terminal(
    repo: Repo,
    *args: str | Path,
    code: str | None = None,
    json_stdout: bool = False,
    columns: int = 200,
    signal_when: tuple[str, int] | None = None,
) -> tuple[int, str, str]:
    """``preserve ARGS`` with stderr (and stdout, unless ``json_stdout``: a pipe) on a
    pseudo-terminal ``columns`` wide; returns the exit status, what the terminal showed and
    stdout's pipe. ``signal_when`` (text, signal): the signal is sent once the text shows."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, **repo.env, "COLUMNS": str(columns), "TERM": "xterm"}
    program = ["-c", code] if code else ["-m", "preserve.cli"]
    proc = subprocess.Popen(
        [sys.executable, *program, *map(str, args)],
        stdin=secondary,
        stdout=subprocess.PIPE if json_stdout else secondary,
        stderr=secondary,
        env=env,
        cwd=REPO_ROOT,
        close_fds=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
        if signal_when and signal_when[0] in ANSI.sub(
            "", b"".join(chunks).decode("utf-8", "replace")
        ):
            proc.send_signal(signal_when[1])
            signal_when = None
    os.close(primary)
    stdout = ""
    if proc.stdout is not None:
        with proc.stdout:
            stdout = proc.stdout.read().decode()
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace"), stdout


def frames(screen: str) -> list[str]:
    """Every line the terminal was shown, redraws included, without colours."""
    return [line.strip() for line in re.split(r"[\r\n]+", ANSI.sub("", screen)) if line.strip()]


def stage_lines(screen: str, label: str) -> list[str]:
    return [line for line in frames(screen) if label in line]


def rate_of(line: str) -> float:
    found = RATE.search(line)
    assert found, line
    return float(found.group(1)) * UNITS[found.group(2)]


def _delivery(folder: Path, files: int = 6, size: int = 100_000) -> Path:
    """``folder``/d with ``files`` random files of ``size`` bytes."""
    d = folder / "d"
    d.mkdir(parents=True)
    for i in range(files):
        (d / f"f{i}.bin").write_bytes(os.urandom(size))
    return d


def test_each_stage_of_an_ingest_and_a_fixity_run_on_a_terminal(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    d = _delivery(tmp_path)
    code, screen, _ = _run_on_a_terminal(
        repo, "ingest", d, "--collection", "photos", code=SLOW_DISK
    )
    assert code == 0, screen

    hashing = stage_lines(screen, "stage 1/4 hashing and copying")
    assert hashing, screen
    assert "6/6 files" in hashing[-1] and "600.0 KB of 600.0 KB" in hashing[-1], hashing
    # 600 KB hash in a blink: too short a stage for a rate, only how long it took
    assert "done in" in hashing[-1], hashing

    storing = stage_lines(screen, "stage 2/4 storing payload on default")
    assert storing, screen
    assert "6/6 files" in storing[-1] and "600.0 KB of 600.0 KB" in storing[-1], storing
    # it advanced file by file while storing, not all at once at the end
    under_way = {m.group(1) for line in storing if (m := re.search(r" (\d)/6 files", line))}
    assert under_way & {"1", "2", "3", "4", "5"}, storing
    # the rate is what was stored over the time it took: each copy took at least VERIFY_DELAY
    assert 0 < rate_of(storing[-1]) <= 600_000 / (6 * VERIFY_DELAY) * 1.05, storing[-1]

    identifying = stage_lines(screen, "stage 3/4 identifying formats")
    assert identifying, screen
    assert "6/6 files" in identifying[-1] and "done in" in identifying[-1], identifying
    assert not any(" B of " in line or "B/s" in line for line in identifying), identifying

    metadata = stage_lines(screen, "stage 4/4 storing metadata on default")
    assert metadata and "files" in metadata[-1] and "done in" in metadata[-1], metadata
    assert frames(screen)[-1] == "1 package stored (6 files, 600.0 KB)"

    code, screen, _ = _run_on_a_terminal(repo, "fixity", "--all")
    assert code == 0, screen
    checking = stage_lines(screen, "copy 1/1 checking")
    # every object is read: the 6 payload files and the tag files
    assert checking and re.search(r" (\d+)/\1 files", checking[-1]), checking
    assert "done in" in checking[-1], checking
    assert frames(screen)[-1] == "1 copy ok"


def test_with_json_the_bar_is_on_stderr_and_stdout_is_pure_json(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    code, screen, stdout = _run_on_a_terminal(
        repo, "ingest", _delivery(tmp_path), "--collection", "photos", "--json", json_stdout=True
    )
    assert code == 0, screen
    assert stage_lines(screen, "stage 2/4 storing payload on default"), screen
    result = json.loads(stdout)
    assert result["stored"] == 1 and result["summary"] == "1 package stored (6 files, 600.0 KB)"


def test_no_progress_bar_with_quiet_on_a_terminal(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    code, screen, _ = _run_on_a_terminal(
        repo, "--quiet", "ingest", _delivery(tmp_path), "--collection", "photos"
    )
    assert code == 0, screen
    assert "stage " not in screen and "/s" not in screen, screen
    assert frames(screen)[-1] == "1 package stored (6 files, 600.0 KB)"


def test_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    (tmp_path / "a.txt").write_text("a")
    result = repo.run("ingest", tmp_path / "a.txt", "--collection", "photos")
    assert "stage " not in result.stderr and "/s" not in result.stderr + result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "preserve.cli", "fixity", "--all"],
        env={**os.environ, **repo.env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == "" and result.stdout.endswith("1 copy ok\n"), result


def test_a_multi_path_ingest_and_fixity_say_where_they_are(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    first = _delivery(tmp_path / "first", files=2)
    second = _delivery(tmp_path / "second", files=3)
    code, screen, _ = _run_on_a_terminal(repo, "ingest", first, second, "--collection", "photos")
    assert code == 0, screen
    assert "2/2 files" in stage_lines(screen, "d (1/2): stage 1/4 hashing and copying")[-1]
    assert "3/3 files" in stage_lines(screen, "d (2/2): stage 2/4 storing payload on default")[-1]
    assert "3/3 files" in stage_lines(screen, "d (2/2): stage 3/4 identifying formats")[-1]
    assert frames(screen)[-1] == "2 packages stored (5 files, 500.0 KB)"
    code, screen, _ = _run_on_a_terminal(repo, "fixity", "--all")
    assert code == 0, screen
    assert stage_lines(screen, "copy 1/2 checking") and stage_lines(screen, "copy 2/2 checking")
    assert frames(screen)[-1] == "2 copies ok"


@pytest.mark.s3
def test_storing_on_s3_and_a_local_location(tmp_path: Path, s3_bucket_url: str) -> None:
    """Each location is its own line of stage 2 (and 4), the S3 one first, each counting the
    files it stored and verified."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.extra_env.update({k: os.environ[k] for k in AWS_VARS if k in os.environ})
    repo.run("init")
    repo.run("locations", "add", "second", s3_bucket_url)
    repo.run("collections", "add", "photos", "--location", "default", "--location", "second")
    code, screen, _ = _run_on_a_terminal(
        repo, "ingest", _delivery(tmp_path), "--collection", "photos"
    )
    assert code == 0, screen
    on_s3 = stage_lines(screen, "stage 2/4 storing payload on second")
    on_disk = stage_lines(screen, "stage 2/4 storing payload on default")
    assert on_s3 and on_disk, screen
    assert frames(screen).index(on_s3[-1]) < frames(screen).index(on_disk[-1])
    for lines in (on_s3, on_disk):
        assert "6/6 files  600.0 KB of 600.0 KB" in lines[-1] and "done in" in lines[-1], lines
    assert stage_lines(screen, "stage 4/4 storing metadata on second")


def _repo(tmp_path: Path) -> Repo:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    return repo


@pytest.mark.parametrize("columns", [80, 60])
def test_each_stage_is_one_line_on_a_narrow_terminal(tmp_path: Path, columns: int) -> None:
    """Nothing wraps: every line drawn is narrower than the terminal, the bar, the whole
    run's estimate and then the bytes giving way; a long delivery name is shortened with an
    ellipsis, its place in the run and the stage kept."""
    repo = _repo(tmp_path)
    code, screen, _ = _run_on_a_terminal(
        repo,
        "ingest",
        _delivery(tmp_path / "one"),
        "--collection",
        "photos",
        code=SLOW_DISK,
        columns=columns,
    )
    assert code == 0, screen
    # the progress lines ("N/M files"), that is: the result and warnings may wrap
    too_wide = [line for line in frames(screen) if len(line) >= columns and PROGRESS.search(line)]
    assert not too_wide, too_wide
    storing = stage_lines(screen, "2/4 storing payload on default")
    assert storing and "6/6 files" in storing[-1] and "done in" in storing[-1], storing
    if columns == 80:  # bytes and the rate still fit, compactly
        assert storing[-1].startswith("2/4 storing payload on default  6/6 files 600/600 KB ")
        assert rate_of(storing[-1]) > 0, storing
    else:  # at 60 the bytes have gone, the file count stays
        assert storing[-1].startswith("2/4 storing payload on default  6/6 files done in ")

    long_name = "photographs-of-the-1923-exhibition-in-the-town-hall-of-ghent-" * 2
    first = _delivery(tmp_path / "first", files=2).rename(tmp_path / long_name)
    second = _delivery(tmp_path / "second", files=3)
    code, screen, _ = _run_on_a_terminal(
        repo, "ingest", first, second, "--collection", "photos", columns=columns
    )
    assert code == 0, screen
    # the progress lines ("N/M files"), that is: the result and warnings may wrap
    too_wide = [line for line in frames(screen) if len(line) >= columns and PROGRESS.search(line)]
    assert not too_wide, too_wide
    # the long name is cut, its place "(1/2): " and the stage stay whole
    hashing = stage_lines(screen, "… (1/2): 1/4 hashing and copying")
    assert hashing, frames(screen)
    assert re.match(r"photog[a-z0-9-]*… \(1/2\): 1/4 hashing and copying  2/2 files", hashing[-1])
    if columns == 80:
        assert re.search(r"done in [\d:.]+( s)?$|done in under 0\.1 s$", hashing[-1]), hashing
    assert any("identifying formats" in line for line in stage_lines(screen, "d (2/2): "))
    assert frames(screen)[-1] == "2 packages stored (5 files, 500.0 KB)"


def test_a_delivery_is_named_alike_on_every_stage_line(tmp_path: Path) -> None:
    """Second new-user trial (issue 8): at 80 columns the long name was cut to a different
    length on each stage ("photographs…", "photogr…", "photographs-of…") and some lines kept
    "stage" and double spaces. The cut is chosen once per delivery: every stage line of it
    shows the same shortened name, and none says "stage"."""
    repo = _repo(tmp_path)
    long_name = "photographs-of-the-1923-exhibition-in-the-town-hall-of-ghent-" * 2
    first = _delivery(tmp_path / "first", files=2).rename(tmp_path / long_name)
    second = _delivery(tmp_path / "second", files=3)
    code, screen, _ = _run_on_a_terminal(
        repo, "ingest", first, second, "--collection", "photos", code=SLOW_DISK, columns=80
    )
    assert code == 0, screen
    lines = [line for line in frames(screen) if " (1/2): " in line and PROGRESS.search(line)]
    names = {line.split(" (1/2): ")[0] for line in lines}
    assert len(names) == 1, names
    (name,) = names
    assert name.endswith("…") and long_name.startswith(name[:-1]) and len(name) >= 8, name
    stages = {m.group(1) for line in lines if (m := re.search(r" \(1/2\): (\d)/4 ", line))}
    assert stages == {"1", "2", "3", "4"}, lines
    assert not any("stage " in line for line in frames(screen) if PROGRESS.search(line)), screen
    second_lines = [line for line in frames(screen) if line.startswith("d (2/2): ")]
    assert second_lines and all(
        re.match(r"d \(2/2\): \d/4 [a-z ]+ on default  |d \(2/2\): \d/4 [a-z ]+  ", line)
        for line in second_lines
    ), second_lines


@pytest.mark.parametrize(
    ("signum", "word", "status"),
    [(signal.SIGINT, "interrupted", 130), (signal.SIGTERM, "terminated", 143)],
)
def test_an_interrupted_ingest_ends_its_stage_stopped_and_says_what_it_left(
    tmp_path: Path, signum: int, word: str, status: int
) -> None:
    repo = _repo(tmp_path)
    d = _delivery(tmp_path)
    code, screen, _ = _run_on_a_terminal(
        repo,
        "ingest",
        d,
        "--collection",
        "photos",
        code=SLOW_DISK,
        signal_when=("2/4 storing payload on default", signum),
    )
    assert code == status, screen
    storing = stage_lines(screen, "stage 2/4 storing payload on default")
    assert storing[-1].endswith("stopped") and "/s" not in storing[-1], storing
    assert not any("done in" in line for line in storing), storing
    assert not stage_lines(screen, "stage 3/4"), screen
    assert frames(screen)[-1] == f"{word}: nothing was stored; the partial package was removed"
    # and it is true: no package, no object on the location
    assert "no packages" in repo.run("packages", "list").stdout
    stored = [p for p in (repo.home / "storage").rglob("*") if p.is_file()]
    assert stored == [], stored


def test_a_multi_path_ingest_interrupted_says_what_was_stored(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _delivery(tmp_path / "first", files=1)
    second = _delivery(tmp_path / "second", files=6)
    third = _delivery(tmp_path / "third", files=1)
    code, screen, _ = _run_on_a_terminal(
        repo,
        "ingest",
        first,
        second,
        third,
        "--collection",
        "photos",
        code=SLOW_DISK,
        signal_when=("d (2/3): stage 2/4 storing payload", signal.SIGINT),
    )
    assert code == 130, screen
    assert frames(screen)[-1] == (
        "interrupted: 1 package stored (d); the partial package of d was removed; "
        "1 delivery not started"
    ), frames(screen)
    assert "1/1" in repo.run("packages", "list").stdout


def test_no_rate_for_a_stage_too_short_to_measure(tmp_path: Path) -> None:
    """A stage of a few hundredths of a second (a hard link, the page cache) shows how long it
    took, not a rate of GB/s; the slow stage shows its real rate."""
    repo = _repo(tmp_path)
    code, screen, _ = _run_on_a_terminal(
        repo, "ingest", _delivery(tmp_path), "--collection", "photos", code=SLOW_DISK
    )
    assert code == 0, screen
    for label in ("stage 3/4 identifying formats", "stage 4/4 storing metadata on default"):
        last = stage_lines(screen, label)[-1]
        assert "/s" not in last, last
        assert re.search(r"done in (under 0\.1 s|0\.\d s)(,|$)", last), last
    storing = stage_lines(screen, "stage 2/4 storing payload on default")[-1]
    assert rate_of(storing) > 0 and re.search(r"done in 0:0\d(,|$)", storing), storing
