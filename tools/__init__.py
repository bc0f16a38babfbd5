"""Developer tools beside the add-on (the simulator, GLB makers, benchmark children, wheel
bundling, glTF validation, structure checks), run from the repository root as ``python -m tools.NAME``."""
