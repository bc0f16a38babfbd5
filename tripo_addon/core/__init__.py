"""The add-on's pure-Python core: the gateway client (net), the user's bucket (storage),
the job journal (journal), the job engine without Blender (engine), and shared leaves.

Nothing in this package imports ``bpy``; it is tested with plain pytest and
runs the same way under Blender's timers, a worker thread or a blocking loop.
"""
