"""Changing the portal's settings (environment variables) for a while, in this process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from portal.config import get_settings


@contextlib.contextmanager
def settings_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set the environment variables ``values`` and re-read the settings; restore both afterwards."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
