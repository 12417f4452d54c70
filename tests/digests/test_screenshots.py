"""The three digests rendered in headless Chromium by scripts/screenshot_digests.py (the README's
pictures): every chart shows as a 480-px image. Written to a temporary folder unless
TECHFLOW_SCREENSHOT_DIR names one (docs/screenshots to refresh the README's)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def test_each_digest_renders_in_chromium_with_its_charts(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does it)")
    out = Path(os.environ.get("TECHFLOW_SCREENSHOT_DIR") or tmp_path)
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "screenshot_digests.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for kind in ("daily", "weekly", "monthly"):
        png = (out / f"digest-{kind}.png").read_bytes()
        width, height = struct.unpack(">II", png[16:24])
        assert width == 720 and height > 600  # the viewport's width; a full page, not an empty one
