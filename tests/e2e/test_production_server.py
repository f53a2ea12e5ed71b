"""`portal run` (what `make run` starts) serves the production build: health, API and the pricing page in Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.config import PROJECT_ROOT
from tests.support.browser import open_page
from tests.support.database import new_sqlite_url
from tests.support.postgres import free_port
from tests.support.processes import stop

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT_S = 600


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def production_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `portal run` in its own process group on a free port, with its own build folder; stop it by PID."""
    work = tmp_path_factory.mktemp("prod")
    port = free_port()
    env = {
        **os.environ,
        "REFLEX_DB_URL": new_sqlite_url(work),
        "REFLEX_WEB_WORKDIR": str(work / "web"),
        "REFLEX_STATES_WORKDIR": str(work / "states"),
    }
    log = (work / "server.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("portal")), "run", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while _get(f"{base}/api/health")[0] != 200 or _get(base + "/")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("portal run did not come up:\n" + (work / "server.log").read_text(errors="replace")[-3000:])
            time.sleep(1)
        yield base
    finally:
        stop(process, signal.SIGTERM, 30, group=True)
        log.close()
    output = (work / "server.log").read_text(errors="replace")
    assert "staff@portal.test" in output, "portal run prints the demo sign-in accounts"
    assert f"http://localhost:{port}/" in output, "portal run prints the URL"


def test_production_build_serves_the_pricing_page(page: Page, production_url: str) -> None:
    status, body = _get(f"{production_url}/api/v1/packages")
    assert status == 200
    assert b'"seat_price":"$40.00"' in body
    open_page(page, f"{production_url}/")
    expect(page.locator(".tier-price")).to_have_text(["$20.00", "$40.00", "$75.00"])
