"""Tripo3D image to 3D: turn an image into a textured 3D model in Blender.

The ``core`` package is plain Python (no ``bpy``); ``blender`` holds the thin
Blender layer. Nothing here imports ``bpy`` at import time, so the core can
be used and tested on its own.
"""

__version__ = "0.1.0"

_registered: list = []


def _modules():
    from .blender import preferences, storage_ops, ui

    return [preferences, ui, storage_ops]


def register() -> None:
    for module in _modules():
        module.register()
        _registered.append(module)


def unregister() -> None:
    while _registered:
        _registered.pop().unregister()
