"""Out of Blender: the picture a job sends, prepared from a file, a URL or an image datablock; and a
model made game-ready (face budget, textures, LODs) and exported for an engine."""
