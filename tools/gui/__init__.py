"""Window-test tooling: a Debian chroot with a real Blender under Xvfb, run from the host (gui_host) and driven from inside Blender (blender_gui_lib)."""
