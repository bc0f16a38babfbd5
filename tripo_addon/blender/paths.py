"""Where the add-on keeps its journal and downloads."""

from __future__ import annotations

import os

import bpy

#: The add-on's top-level package: "bl_ext.<repo>.tripo3d" when installed as an
#: extension, "tripo_addon" when run from a source checkout.
ADDON_PACKAGE = __package__.rpartition(".")[0]


def user_dir() -> str:
    """The add-on's own folder for user data (under Blender's user resources)."""
    if ADDON_PACKAGE.startswith("bl_ext."):
        return bpy.utils.extension_path_user(ADDON_PACKAGE, create=True)
    # A source checkout (the CLI, tests): use the folder the extension gets when
    # installed from a zip, so both see the same jobs.
    path = os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".user", "user_default", "tripo3d")
    os.makedirs(path, exist_ok=True)
    return path
