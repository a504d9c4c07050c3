"""Deliveries for the package page's tests: a folder of small images (PNG, JPEG, TIFF), a
text file and an HTML file."""

from __future__ import annotations

from pathlib import Path


def image_folder(root: Path, name: str = "delivery", *, html: bool = True) -> Path:
    """A delivery folder: images in several formats, a text file, an HTML page in a subfolder."""
    import pyvips

    folder = root / name
    (folder / "scans").mkdir(parents=True)
    base = pyvips.Image.black(320, 200, bands=3).linear([1, 1, 1], [40, 120, 200]).cast("uchar")
    base.pngsave(str(folder / "scans" / "harbour.png"))
    (base + 10).jpegsave(str(folder / "scans" / "quay.jpg"))
    (base + 20).tiffsave(str(folder / "scans" / "ship.tif"))
    (folder / "notes.txt").write_text("Notes on the harbour.\n", encoding="utf-8")
    if html:
        (folder / "page.html").write_text(
            "<html><body><script>alert(1)</script>hello</body></html>\n", encoding="utf-8"
        )
    return folder
