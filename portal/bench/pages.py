"""``portal bench pages``: how long the portal's pages take to load in a real browser.

Starts ``portal run`` on a fresh SQLite file with the demo data (or measures
the portal at ``--url``), then opens pages in Chromium (Debian's
``/usr/bin/chromium``, which ``make test`` installs; Playwright drives it):
the pricing page signed out, the sign-in page, and the customer dashboard
the demo admin lands on after signing in. Each is loaded ``--runs`` times in
a new browser profile (first load: nothing cached), and the page it ended on
is loaded once more in the same profile (cached). Reported per page: the time until the browser's load
event, and until the page is hydrated and connected to the server (the
moment a click takes effect), median and slowest of the runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from portal.bench.ingest import own_portal
from portal.services.demo import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
HYDRATED = "#hydrated"
TIMEOUT_MS = 60_000
DEMO_ADMIN = "admin@acme.test"


def _open(page: Page, url: str) -> tuple[float, float]:
    """Go to ``url``: seconds until the load event, and until the page is hydrated."""
    began = time.perf_counter()
    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    loaded = time.perf_counter() - began
    page.wait_for_selector(HYDRATED, state="attached", timeout=TIMEOUT_MS)
    return loaded, time.perf_counter() - began


def _dashboard(page: Page, base: str) -> tuple[float, float]:
    """Sign in as the demo admin: seconds from submitting until the landing page's load, and its hydration."""
    _open(page, f"{base}/sign-in")
    page.fill("#email", DEMO_ADMIN)
    page.fill("#password", DEMO_PASSWORD)
    began = time.perf_counter()
    with page.expect_navigation(wait_until="load", timeout=TIMEOUT_MS):
        page.click("#sign-in-submit")
    page.wait_for_url(lambda url: "/sign-in" not in url and "/api/auth" not in url, timeout=TIMEOUT_MS)
    page.wait_for_load_state("load", timeout=TIMEOUT_MS)
    loaded = time.perf_counter() - began
    page.wait_for_selector(HYDRATED, state="attached", timeout=TIMEOUT_MS)
    return loaded, time.perf_counter() - began


PAGES: dict[str, Callable[[Page, str], tuple[float, float]]] = {
    "pricing (signed out)": lambda page, base: _open(page, f"{base}/"),
    "sign-in": lambda page, base: _open(page, f"{base}/sign-in"),
    "dashboard after sign-in": _dashboard,
}
"""The pages measured, each as how to load it from the portal's base URL."""


def _line(name: str, first: list[tuple[float, float]], cached: list[tuple[float, float]]) -> str:
    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:5.0f} ms (slowest {max(values) * 1000:5.0f})"

    return (
        f"{name:24} first load: loaded {ms([f[0] for f in first])}, hydrated {ms([f[1] for f in first])}\n"
        f"{'':24} cached:     loaded {ms([c[0] for c in cached])}, hydrated {ms([c[1] for c in cached])}"
    )


def measure(base: str, runs: int) -> int:
    """Load each page ``runs`` times cold and once more cached per run; print the report."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        try:
            warm = browser.new_page()
            _open(warm, f"{base}/")  # the server's first request after start is not what a visitor meets
            warm.close()
            for name, load in PAGES.items():
                first, cached = [], []
                for _ in range(runs):
                    context = browser.new_context()
                    page = context.new_page()
                    first.append(load(page, base))
                    cached.append(_open(page, page.url))  # the page it ended on, again, with the profile's cache
                    context.close()
                print(_line(name, first, cached))
        finally:
            browser.close()
    return 0


def run(args: argparse.Namespace) -> int:
    """Measure the portal at ``--url``, or one started for the run."""
    if args.runs < 1:
        print("Use at least one run.", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not installed at {CHROMIUM}: run make test once (it installs Debian's).", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as workdir:
        started: AbstractContextManager[tuple[str, dict[str, str]]] = (
            nullcontext((args.url, {})) if args.url else own_portal(Path(workdir))
        )
        with started as (base, _env):
            print(f"portal                  {base}")
            return measure(base, args.runs)
