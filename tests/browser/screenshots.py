"""Save screenshots of the main pages into ``docs/screenshots/`` (for the README):
``python -m tests.browser.screenshots [FOLDER]``. Runs the main-pages browser test with
``PRESERVE_TEST_SCREENSHOTS`` set, so the pictures show a real catalogue with sample content."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else ROOT / "docs" / "screenshots"
    os.environ["PRESERVE_TEST_SCREENSHOTS"] = str(folder.resolve())
    test = Path(__file__).with_name("test_main_pages.py")
    code = pytest.main(["-q", "-p", "no:cacheprovider", str(test)])
    if code == 0:
        print(f"screenshots in {folder}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
