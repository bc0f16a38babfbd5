"""The batch command line (``scripts/generate.py`` and ``blender --command tripo3d``): options, checks and outputs."""
