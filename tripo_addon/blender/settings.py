"""Settings from the add-on preferences, falling back to the environment."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import bpy

from ..core.errors import OnlineAccessDisabled, StorageError
from .user_data import ADDON_PACKAGE

if TYPE_CHECKING:
    # requests loads when the first job starts, and the image, delivery and
    # bucket code when the first job needs it, not when the add-on is enabled
    from ..core.storage.delivery import Delivery
    from ..core.net.gateway import GatewayClient, RetryPolicy
    from ..core.images import PreparedImage
    from ..core.engine.runner import RunSettings
    from ..core.storage.config import StorageConfig

#: Where to get a key and add funds (the site; its dashboard's address is not published in the API docs).
PIXAZO_SITE = "https://www.pixazo.ai/"

OFFLINE_MESSAGE = (
    "Online access is off in Blender, so no request was made; turn on Preferences > System > "
    "Network > Allow Online Access (or pass --online-mode)."
)


@dataclass
class Settings:
    """Everything a job needs from the preferences and the environment."""

    api_key: str | None = field(repr=False)  # never in a log or a traceback
    base_url: str | None
    poll_interval: float = 2.0
    max_download_mb: int = 512
    max_concurrent: int = 3
    download_dir: str = ""
    read_timeout: float = 30.0
    #: How local images travel, as asked: "auto", "inline" or "s3://BUCKET/PREFIX" (see core.storage.delivery).
    upload: str = "auto"
    #: The bucket's fields from the add-on preferences (see storage_preferences).
    bucket_fields: dict = field(default_factory=dict, repr=False)  # holds the bucket's secret
    #: The environment's bucket settings win over the preferences (the CLI's choice).
    prefer_env: bool = False
    #: Backoff for polls and downloads (None: the client's default).
    retry: RetryPolicy | None = None
    webhook_url: str = ""
    webhook_mode: str = ""
    #: Send pictures with their metadata (EXIF, GPS, XMP, IPTC); by default it stays home.
    keep_metadata: bool = False

    def client(self, stop: threading.Event | None = None, retry: RetryPolicy | None = None,
               limiter=None) -> "GatewayClient":
        from ..core.version import VERSION
        from ..core.net.gateway import GatewayClient

        return GatewayClient(
            self.api_key, self.base_url, stop=stop, retry=retry, limiter=limiter,
            max_download_bytes=self.max_download_mb * 1024 * 1024, read_timeout=self.read_timeout,
            user_agent=f"tripo3d-blender/{VERSION}",
        )

    @cached_property
    def _bucket(self) -> tuple[str, StorageConfig | None, StorageError | None]:
        # Read when a job or the panel first needs it (for_a_job): redraws
        # that show no bucket never load the bucket code.
        from ..core.storage.config import upload_choice

        return upload_choice(self.upload, self.bucket_fields, os.environ, prefer_env=self.prefer_env)

    @cached_property
    def upload_route(self) -> str:
        """How local images travel: "auto", "inline" or "s3"."""
        return self._bucket[0]

    @cached_property
    def storage(self) -> StorageConfig | None:
        """The user's bucket, or None when none is configured."""
        return self._bucket[1]

    @cached_property
    def storage_error(self) -> StorageError | None:
        """Why the configured bucket cannot be used (raised when a job needs it)."""
        return self._bucket[2]

    def run_settings(self) -> RunSettings:
        from ..core.engine.runner import RunSettings

        return RunSettings(poll_interval=self.poll_interval, downloads_dir=self.download_dir,
                           webhook_url=self.webhook_url, webhook_mode=self.webhook_mode)

    def delivery(self, prepared: PreparedImage) -> Delivery:
        """How ``prepared`` will reach the gateway (raises when the route cannot work)."""
        from ..core.storage.delivery import Delivery, choose_route

        if self.storage_error is not None and not prepared.is_remote and self.upload_route != "inline":
            raise self.storage_error
        route = choose_route(self.upload_route, prepared, self.storage)
        return Delivery(route, prepared, self.storage if route == "s3" else None)


def addon_preferences():
    addon = bpy.context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


def storage_preferences(prefs) -> dict:
    """The storage fields of the add-on preferences, as the core reads them."""
    if prefs is None:
        return {}
    return {
        "bucket": prefs.storage_bucket.strip(), "endpoint": prefs.storage_endpoint.strip(),
        "region": prefs.storage_region.strip(), "access_key_id": prefs.storage_access_key_id.strip(),
        "secret_access_key": prefs.storage_secret_access_key.strip(),
        "url_lifetime_hours": float(prefs.storage_url_lifetime_hours),
        "delete_after": bool(prefs.storage_delete_after),
    }


def current(*, upload: str | None = None, prefer_env: bool = False) -> Settings:
    """Settings for a job. In the UI the preferences win over the environment;
    the CLI passes ``prefer_env`` and its ``--upload`` value."""
    prefs = addon_preferences()
    env_key = os.environ.get("PIXAZO_API_KEY", "").strip() or None
    env_url = os.environ.get("PIXAZO_BASE_URL", "").strip() or None
    route = upload if upload is not None else (prefs.upload_route.lower() if prefs is not None else "auto")
    if prefs is None:
        return Settings(env_key, env_url, upload=route, bucket_fields=storage_preferences(prefs), prefer_env=prefer_env)
    return Settings(
        api_key=(prefs.api_key.strip() or env_key),
        base_url=(prefs.base_url.strip() or env_url),
        poll_interval=float(prefs.poll_interval),
        max_download_mb=int(prefs.max_download_mb),
        max_concurrent=int(prefs.max_concurrent),
        download_dir=bpy.path.abspath(prefs.download_dir) if prefs.download_dir else "",
        upload=route,
        bucket_fields=storage_preferences(prefs),
        prefer_env=prefer_env,
        keep_metadata=bool(getattr(prefs, "keep_metadata", False)),
    )


def for_a_job(override: Settings | None = None) -> Settings:
    """The settings a new job starts with (``override``: a batch run's own),
    once online access and a key are there; raises with the sentence to show."""
    ensure_online()
    settings = override or current()
    if not settings.api_key:
        from ..core.errors import NoApiKey

        raise NoApiKey("No Pixazo API key is set; enter it in the add-on preferences or set PIXAZO_API_KEY.")
    _ = settings.upload_route, settings.storage, settings.storage_error  # read once, here: the job's start uses them
    return settings


def ensure_online(allow: bool = False) -> None:
    """Raise unless Blender allows network access (optionally allowing it for this session).

    Main thread: also makes the flag workers read before each request current
    (core.net.online), for the requests about to be made."""
    from ..core.net.online import ONLINE

    if not bpy.app.online_access and allow and not bpy.app.online_access_override:
        # For this session only, like Blender's own --online-mode; not saved.
        bpy.context.preferences.system.use_online_access = True
    ONLINE.set(bool(bpy.app.online_access))
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
