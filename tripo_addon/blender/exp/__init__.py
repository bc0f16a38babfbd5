"""Out of Blender: the picture a job sends, prepared from a file, a URL or an image datablock."""
