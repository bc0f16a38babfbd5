"""The job engine, without Blender: the job and its states, planning, the network steps and the worker thread that runs them."""
