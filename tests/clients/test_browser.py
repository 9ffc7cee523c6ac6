"""Stage 09 in a real browser: headless Chromium loads the shipped site (the page, its
stylesheet, its picture) from the server, as a person opening http://127.0.0.1:PORT/ would.

The page checks itself: once everything has loaded, a script writes the picture's own size
and a property only style.css sets into the page, and Chromium's --dump-dom prints the page
as it then is. The server's access log must show the three requests, each answered 200.

Chromium is Debian's `chromium` package (scripts/common.sh installs it). On Windows the test
uses Edge (msedge.exe), which is Chromium and takes the same switches.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.process import ON_WINDOWS

pytestmark = pytest.mark.needs("http")


def find_browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if ON_WINDOWS:
        for base in (os.environ.get("ProgramFiles(x86)"), os.environ.get("ProgramFiles")):
            if base:
                edge = Path(base) / "Microsoft" / "Edge" / "Application" / "msedge.exe"
                if edge.exists():
                    return str(edge)
    return None


BROWSER = find_browser()


@pytest.mark.skipif(BROWSER is None, reason="no Chromium (Debian: apt-get install chromium; "
                                            "scripts/common.sh installs it) and no Edge")
def test_headless_chromium_loads_the_page_its_stylesheet_and_its_picture(launch, stage, tmp_path):
    server = launch.serve(stage)  # the shipped site, bin/www
    url = f"http://{server.host}:{server.port}/"
    done = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         # Virtual time runs until the page has loaded and is idle (or 10 s of it have passed),
         # so the load handler has run when the DOM is dumped.
         "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<h1>It works.</h1>" in dom, dom[:2000]
    check = re.search(r'<p id="self-check">([^<]*)</p>', dom)
    assert check, dom[:2000]
    # 16x16: the PNG's own size (the page shows it at 64x64); "pixelated": from style.css only.
    assert check.group(1) == "logo.png: 16x16 pixels; style.css: image-rendering pixelated", \
        check.group(1)
    for path in ("/", "/style.css", "/logo.png"):
        server.wait_for_line(rf"^client \d+: GET {re.escape(path)} 200 \d+ bytes ")
