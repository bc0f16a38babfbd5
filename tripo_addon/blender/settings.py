"""Settings from the add-on preferences, falling back to the environment."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import bpy

from ..core.errors import OnlineAccessDisabled
from ..core.gateway import GatewayClient, RetryPolicy
from ..core.runner import RunSettings
from .paths import ADDON_PACKAGE

OFFLINE_MESSAGE = (
    "Online access is off in Blender, so no request was made; turn on Preferences > System > "
    "Network > Allow Online Access (or pass --online-mode)."
)


@dataclass
class Settings:
    api_key: str | None
    base_url: str | None
    poll_interval: float = 2.0
    max_download_mb: int = 512
    max_concurrent: int = 3
    download_dir: str = ""
    read_timeout: float = 30.0

    def client(self, stop: threading.Event | None = None, retry: RetryPolicy | None = None) -> GatewayClient:
        from .. import __version__

        return GatewayClient(
            self.api_key, self.base_url, stop=stop, retry=retry,
            max_download_bytes=self.max_download_mb * 1024 * 1024, read_timeout=self.read_timeout,
            user_agent=f"tripo3d-blender/{__version__}",
        )

    def run_settings(self) -> RunSettings:
        return RunSettings(poll_interval=self.poll_interval, downloads_dir=self.download_dir)


def addon_preferences():
    addon = bpy.context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


def current() -> Settings:
    prefs = addon_preferences()
    env_key = os.environ.get("PIXAZO_API_KEY", "").strip() or None
    env_url = os.environ.get("PIXAZO_BASE_URL", "").strip() or None
    if prefs is None:
        return Settings(env_key, env_url)
    return Settings(
        api_key=(prefs.api_key.strip() or env_key),
        base_url=(prefs.base_url.strip() or env_url),
        poll_interval=float(prefs.poll_interval),
        max_download_mb=int(prefs.max_download_mb),
        max_concurrent=int(prefs.max_concurrent),
        download_dir=bpy.path.abspath(prefs.download_dir) if prefs.download_dir else "",
    )


def ensure_online(allow: bool = False) -> None:
    """Raise unless Blender allows network access (optionally allowing it for this session)."""
    if bpy.app.online_access:
        return
    if allow and not bpy.app.online_access_override:
        # For this session only, like Blender's own --online-mode; not saved.
        bpy.context.preferences.system.use_online_access = True
    if not bpy.app.online_access:
        raise OnlineAccessDisabled(OFFLINE_MESSAGE)


def check_connection(client: GatewayClient) -> tuple[str, str]:
    """A free request that proves the address and the key: ask for a job that
    does not exist. Returns (report level, sentence). Runs off the main thread."""
    from ..core import errors as E

    try:
        client.status_once("tripo3d-v2-5-413_connection-test")
    except E.NotFound:
        pass  # the gateway answered and accepted the key
    except E.TripoError as exc:
        return "ERROR", exc.message
    finally:
        client.close()
    return "INFO", "Connected to the gateway; the key was accepted."
