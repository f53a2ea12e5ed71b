"""Reflex configuration for the portal.

Settings come from the environment (see the README); the defaults run on a
laptop with an embedded SQLite database. Bun comes from the npm registry
(`make install` puts it under .tools/), never from Reflex's own download.
"""

from pathlib import Path

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from portal.config import get_settings

_ROOT = Path(__file__).resolve().parent
_LOCAL_BUN = _ROOT / ".tools" / "bun" / "node_modules" / "@oven" / "bun-linux-x64" / "bin" / "bun"

config = rx.Config(
    app_name="portal",
    db_url=get_settings().database_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="violet", gray_color="slate", radius="large"))],
    disable_plugins=[SitemapPlugin],
    **({"bun_path": _LOCAL_BUN} if _LOCAL_BUN.exists() else {}),
)
