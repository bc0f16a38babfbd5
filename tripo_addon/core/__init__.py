"""Pure-Python core of the add-on: gateway client, job model, journal.

Nothing in this package imports ``bpy``; it is tested with plain pytest and
runs the same way under Blender's timers, a worker thread or a blocking loop.
"""
