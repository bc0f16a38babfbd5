"""Developer tools beside the add-on: the gateway simulator, the GLB makers,
benchmark children, wheel bundling and glTF validation. Run them from the
repository root as ``python -m tools.NAME``."""
