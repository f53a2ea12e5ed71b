"""The local OpenID Connect provider the sign-in tests use: a real, certified one (panva's oidc-provider).

It lives in ``tests/support/dev_idp`` (copied from ``../shared/tools/dev-idp``):
``npm ci`` installs it from the npm registry the first time (skipped once
``node_modules`` exists), and :func:`running_provider` starts ``node
dev-idp.mjs`` on a loopback port and stops it by PID. Its login page accepts
any login name and password; ``alice`` is in the group ``pricing-admins``, and
a login that contains ``@`` is also the email address.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urljoin

import httpx

from tests.support.processes import stop

IDP_DIR = Path(__file__).resolve().parent / "dev_idp"
CLIENT_ID = "portal-tests"
CLIENT_SECRET = "portal-tests-secret"
STAFF_GROUP = "pricing-admins"
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>.*?name="prompt" value="(\w+)"', re.DOTALL)
_CANCEL = re.compile(r'<a href="([^"]+)">\[ Cancel \]</a>')


def ensure_installed() -> None:
    """Install the provider's npm packages unless they are there already."""
    if (IDP_DIR / "node_modules" / ".package-lock.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing: the OpenID Connect tests need Node.js 20 or newer with npm.")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=IDP_DIR, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"`npm ci` in {IDP_DIR} failed:\n{done.stdout}\n{done.stderr}")


def issuer_at(port: int) -> str:
    """The issuer URL of a provider listening on ``127.0.0.1:port``."""
    return f"http://127.0.0.1:{port}"


def provider_settings(issuer: str) -> dict[str, str]:
    """The environment variables of a portal that signs in through the provider at ``issuer``."""
    return {"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET}


@dataclass(frozen=True)
class DevProvider:
    """A running provider."""

    issuer: str
    pid: int

    def settings(self) -> dict[str, str]:
        """The environment variables of a portal that signs in through this provider."""
        return provider_settings(self.issuer)


@contextlib.contextmanager
def running_provider(port: int, redirect_uris: Sequence[str]) -> Iterator[DevProvider]:
    """Start the provider on ``127.0.0.1:port`` accepting ``redirect_uris``; stop it by PID afterwards."""
    ensure_installed()
    issuer = issuer_at(port)
    env = {
        **os.environ,
        "IDP_PORT": str(port),
        "IDP_HOST": "127.0.0.1",
        "IDP_CLIENT_ID": CLIENT_ID,
        "IDP_CLIENT_SECRET": CLIENT_SECRET,
        "IDP_REDIRECT_URIS": ",".join(redirect_uris),
    }
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            ["node", "dev-idp.mjs"], cwd=IDP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until_ready(issuer, process, log)
            yield DevProvider(issuer, process.pid)
        finally:
            stop(process, signal.SIGTERM, 10)


def _wait_until_ready(issuer: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"The OpenID provider did not start:\n{log.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.1)


async def sign_in_at_provider(
    client: httpx.AsyncClient, authorize_url: str, login: str, cancel: bool = False
) -> httpx.Response:
    """Go through the provider's pages from ``authorize_url`` as ``login`` (login form, then consent).

    Returns the provider's redirect back to the portal, not followed. With
    ``cancel``, the person presses Cancel on the login page instead.
    """
    provider = authorize_url.split("/auth", 1)[0]
    url, method, data = authorize_url, "GET", None
    for _ in range(12):
        response = await client.request(method, url, data=data, follow_redirects=False)
        if response.is_redirect:
            url, method, data = urljoin(url, response.headers["location"]), "GET", None
            if not url.startswith(provider):
                return response
            continue
        page = response.text
        form = _FORM.search(page)
        assert form, f"the provider answered {response.status_code} without a form:\n{page[:1000]}"
        action, prompt = urljoin(url, html.unescape(form[1])), form[2]
        if cancel and (link := _CANCEL.search(page)):
            url, method, data = urljoin(url, html.unescape(link[1])), "GET", None
        elif prompt == "login":
            url, method, data = action, "POST", {"prompt": "login", "login": login, "password": "any password"}
        else:
            url, method, data = action, "POST", {"prompt": prompt}
    raise AssertionError("the provider did not send the browser back to the portal")
