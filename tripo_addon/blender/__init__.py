"""The thin ``bpy`` layer: the engine inside Blender, model import, the picture sent, the UI and the command line."""
