"""Link members of a tar delivery, end to end: a hard link is stored as the file it names, a
symbolic link is skipped with a warning that says so, and a hard link to nothing is refused."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from tests.functional.cli import Repo


def manifest(repo: Repo, package_id: str, algorithm: str) -> dict[str, str]:
    path = next(repo.storage_root.rglob(f"{package_id}/v1/manifest-{algorithm}.txt"))
    return {
        line.split(" ", 1)[1].strip(): line.split(" ", 1)[0]
        for line in path.read_text().splitlines()
    }


def test_tar_hard_link_is_stored_as_the_file_it_names(repo: Repo, tmp_path: Path) -> None:
    src = tmp_path / "delivery"
    (src / "sub").mkdir(parents=True)
    content = os.urandom(10_000)
    (src / "original.bin").write_bytes(content)
    os.link(src / "original.bin", src / "sub" / "linked.bin")
    (src / "other.txt").write_text("other")
    archive = tmp_path / "delivery.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="delivery")
        assert sum(m.islnk() for m in tf.getmembers()) == 1  # the second name is a link member

    result = repo.json("ingest", archive, "--collection", "photos")
    package = result["packages"][0]
    assert package["status"] == "stored"
    assert package["files"] == 3 and package["bytes"] == 2 * len(content) + len("other")
    # random bytes named .bin: identified by extension only, which ingest says; nothing else
    assert {w["code"] for w in package["warnings"]} <= {"identification-warning", "format-unknown"}
    assert sorted(f["path"] for f in package["file_details"]) == [
        "data/original.bin",
        "data/other.txt",
        "data/sub/linked.bin",
    ]
    package_id = package["package_id"]
    stored = next(repo.storage_root.rglob(f"{package_id}/v1"))
    for name in ("original.bin", "sub/linked.bin"):
        assert (stored / "data" / name).read_bytes() == content
    for algorithm in ("sha256", "sha512"):
        digests = manifest(repo, package_id, algorithm)
        expected = hashlib.new(algorithm, content).hexdigest()
        assert digests["data/original.bin"] == expected
        assert digests["data/sub/linked.bin"] == expected
    assert repo.json("fixity", "--package", package_id)["ok"] is True


def test_tar_symlink_is_skipped_with_a_warning_that_names_it(repo: Repo, tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("real.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"real"))
        sym = tarfile.TarInfo("passwd")
        sym.type, sym.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(sym)
    package = repo.json("ingest", archive, "--collection", "photos")["packages"][0]
    assert [f["path"] for f in package["file_details"]] == ["data/real.txt"]
    [warning] = package["warnings"]
    assert warning["code"] == "symlink-skipped" and warning["path"] == "passwd"
    assert "symbolic link to '/etc/passwd'" in warning["message"]
    assert "hard link" not in warning["message"]


def test_tar_hard_link_to_a_member_not_in_the_archive_is_refused(
    repo: Repo, tmp_path: Path
) -> None:
    archive = tmp_path / "dangling.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("real.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"real"))
        hard = tarfile.TarInfo("copy.txt")
        hard.type, hard.linkname = tarfile.LNKTYPE, "elsewhere/gone.txt"
        tf.addfile(hard)
    result = repo.run("ingest", archive, "--collection", "photos", ok=False)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "member 'copy.txt'" in result.stderr
    assert "hard link to 'elsewhere/gone.txt', which is not in the archive" in result.stderr
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []
