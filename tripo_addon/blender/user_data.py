"""Where the add-on keeps its data: its folder under Blender's user
resources (``BLENDER_USER_RESOURCES`` moves it), and the job journal there."""

from __future__ import annotations

import os

import bpy

from ..core.journal.store import Journal

#: The add-on's top-level package: "bl_ext.<repo>.tripo3d" when installed as an
#: extension, "tripo_addon" when run from a source checkout.
ADDON_PACKAGE = __package__.rpartition(".")[0]

_journal: list = [None]  # the Journal this process opened


def user_dir() -> str:
    """The add-on's own folder for user data (under Blender's user resources)."""
    if ADDON_PACKAGE.startswith("bl_ext."):
        return bpy.utils.extension_path_user(ADDON_PACKAGE, create=True)
    # A source checkout (the CLI, tests): use the folder the extension gets when
    # installed from a zip, so both see the same jobs.
    path = os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".user", "user_default", "tripo3d")
    os.makedirs(path, exist_ok=True)
    return path


def journal() -> Journal:
    """The journal in the add-on's user folder (opened again if that folder moved)."""
    directory = user_dir()
    if _journal[0] is None or _journal[0].directory != directory:
        _journal[0] = Journal(directory)
    return _journal[0]


def journal_if_open() -> Journal | None:
    """The journal this process opened, without looking for its folder again."""
    return _journal[0]
