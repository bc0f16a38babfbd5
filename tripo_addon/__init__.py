"""Tripo3D Image to 3D for Blender: the extension's ``register()`` and ``unregister()``.

``core`` is plain Python (no ``bpy``); ``blender`` is the thin Blender layer. Nothing here imports
``bpy`` at import time, so the core can be used and tested on its own.
"""

from .core.version import VERSION as __version__  # noqa: F401  (the package's version)

_registered: list = []


def _modules():
    from .blender.ui import preferences, registration, storage_test

    return [preferences, registration, storage_test]


def register() -> None:
    for module in _modules():
        module.register()
        _registered.append(module)
    if _running_as_python_module():
        import atexit

        atexit.register(unregister)


def unregister() -> None:
    import atexit

    atexit.unregister(unregister)
    while _registered:
        _registered.pop().unregister()


def _running_as_python_module() -> bool:
    """Whether Blender is the ``bpy`` module inside a Python process (PyPI bpy).
    That Blender never disables add-ons when Python exits: a script that calls
    ``register()`` and ends would crash (its command-line command is freed
    after Python) or hang (a worker Blender left waiting) on the way out, so
    the add-on is unregistered at Python's exit there. Blender itself disables
    add-ons before its Python ends."""
    import bpy

    return bool(getattr(bpy.app, "module", not bpy.app.binary_path))
