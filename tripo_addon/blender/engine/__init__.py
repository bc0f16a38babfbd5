"""The job engine inside Blender: the manager its timer (or a loop) pumps, starting jobs, recovery, pausing, its own bugs, the batch loop."""
