"""Turn images into 3D models in Blender, in batch.

    python scripts/generate.py [OPTIONS] IMAGE...            (PyPI bpy module)
    blender --background --python scripts/generate.py -- [OPTIONS] IMAGE...

Runs from a source checkout; see --help for options and exit codes.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _args() -> list:
    # Under python every argument is ours, and "--" ends the options (so a file
    # named "-x.png" can follow it). Under the blender binary, sys.argv is
    # Blender's own command line: ours are the ones after its first "--".
    argv = sys.argv
    if argv and os.path.realpath(argv[0]) == os.path.realpath(__file__):
        return argv[1:]
    return argv[argv.index("--") + 1:] if "--" in argv else []


def main() -> int:
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    try:
        import bpy  # noqa: F401
    except ImportError:
        print("error: this needs Blender's Python: run it with blender --background --python, "
              "or in a Python with the bpy module installed (pip install bpy).", file=sys.stderr)
        return 2
    from tripo_addon.blender.cli.main import main as cli_main

    return cli_main(_args())


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.exit(code)
