"""A 20000 x 20000 image is sent downscaled without needing gigabytes beyond
Blender's own copy of its pixels, in the decoder child, not in the Blender that
asked (issue: images, memory bounded; decoding apart)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD = r"""
import json, sys
sys.path.insert(0, {repo!r})
import bpy
path, mode = sys.argv[1], sys.argv[2]
if mode == "blender_alone":  # the baseline: Blender's own copy of the pixels
    image = bpy.data.images.load(path)
    size = tuple(image.size)
    out = {{"size": size}}
else:
    from tripo_addon.blender.exp import decoding
    from tripo_addon.blender.exp.image_source import prepare_source
    prepared, note = prepare_source(path)
    out = {{"bytes": len(prepared.data), "width": prepared.info.width, "note": note,
            "child_peak_mb": decoding.shared().last_peak_mb}}
# VmHWM: this program's own peak (ru_maxrss also counts what pytest held when it forked).
out["peak_mb"] = int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")).split()[1]) / 1024
print("JSON" + json.dumps(out))
"""


@pytest.mark.slow
def test_a_20000_px_image_needs_no_gigabytes_beyond_blenders_copy(tmp_path):
    import os

    from PIL import Image, ImageDraw

    path = tmp_path / "huge.png"
    im = Image.new("L", (20000, 20000), 200)  # 400 MB while it is made, here, not in Blender
    ImageDraw.Draw(im).ellipse((4000, 4000, 16000, 16000), fill=60)
    im.save(path, optimize=False)
    del im
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = CHILD.format(repo=repo)

    def run(mode: str) -> dict:
        # Over the default pixel limit (16k x 16k): allowed here, where the memory is what is measured.
        env = {**os.environ, "TRIPO3D_MAX_PIXELS": str(20000 * 20000)}
        proc = subprocess.run([sys.executable, "-c", code, str(path), mode], capture_output=True, text=True,
                              timeout=600, env=env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
        assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
        return json.loads(lines[0][4:])

    alone, ours = run("blender_alone"), run("prepare")
    print(f"\npeak RSS: Blender loading the image {alone['peak_mb']:.0f} MB; preparing it to send: the decoder "
          f"child {ours['child_peak_mb']:.0f} MB ({ours['child_peak_mb'] - alone['peak_mb']:+.0f} MB), "
          f"the Blender that asked {ours['peak_mb']:.0f} MB")
    assert alone["size"] == [20000, 20000]
    assert ours["width"] == 4096 and "downscaled from 20000x20000" in ours["note"]
    assert ours["child_peak_mb"] - alone["peak_mb"] < 512, (alone, ours)  # decoded apart, memory bounded
    assert ours["peak_mb"] < alone["peak_mb"] / 2, (alone, ours)  # not decoded in the Blender that asked
