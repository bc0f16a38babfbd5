"""Models into Blender: the glTF import, placement in the scene, framing, and what the importer needs."""
