"""The window and zip tests' traceback check leaves out only Blender's own known faults."""

from __future__ import annotations

from tools.blender_tracebacks import tracebacks

BLENDERS_OWN = '''Traceback (most recent call last):
  File "/usr/share/blender/scripts/modules/addon_utils.py", line 544, in enable
    mod.register()
    ~~~~~~~~~~~~^^
  File "/usr/share/blender/scripts/modules/_bpy_internal/http/downloader.py", line 51, in <module>
    import cattrs
ModuleNotFoundError: No module named 'cattrs'
'''
ADD_ONS = '''Traceback (most recent call last):
  File "/tmp/user/extensions/user_default/tripo3d/blender/ui/panels.py", line 40, in draw
    row = job_rows[job.id]
KeyError: 'abc'
'''


def test_blenders_own_missing_module_is_left_out_and_the_add_ons_traceback_is_kept():
    text = "Blender 5.2.2\n" + BLENDERS_OWN + "warning: registered duplicate command\n" + ADD_ONS + "Blender quit\n"
    assert tracebacks(text) == [ADD_ONS.rstrip("\n")]
    assert tracebacks(BLENDERS_OWN) == []


def test_the_same_missing_module_elsewhere_is_not_left_out():
    elsewhere = BLENDERS_OWN.replace("_bpy_internal/http/downloader.py", "tripo3d/core/net/gateway.py")
    assert len(tracebacks(elsewhere)) == 1
    other_module = BLENDERS_OWN.replace("No module named 'cattrs'", "No module named 'numpy'")
    assert len(tracebacks(other_module)) == 1
