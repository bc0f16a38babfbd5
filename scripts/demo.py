"""The demo behind scripts/demo.sh.

1. Draws a sample picture (demo-output/sample.png).
2. Without PIXAZO_API_KEY, starts the local gateway simulator; with it, uses
   the real gateway (PIXAZO_BASE_URL, default https://gateway.pixazo.ai).
3. Runs the batch command exactly as a user would:
   python scripts/generate.py --online-mode sample.png --out demo.blend --report report.json
4. Renders the imported model to demo-output/demo.png.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "demo-output")


def draw_sample(path: str) -> None:
    from PIL import Image, ImageDraw, ImageFilter

    size = 512
    im = Image.new("RGB", (size, size), (235, 238, 242))
    d = ImageDraw.Draw(im)
    # A potted cactus on a plain background: the kind of picture image-to-3D likes.
    d.polygon([(176, 330), (336, 330), (316, 470), (196, 470)], fill=(190, 95, 60))
    d.rectangle((166, 312, 346, 340), fill=(210, 110, 70))
    d.rounded_rectangle((226, 120, 286, 320), radius=30, fill=(70, 150, 80))
    d.rounded_rectangle((160, 190, 206, 270), radius=22, fill=(70, 150, 80))
    d.rectangle((190, 245, 232, 268), fill=(70, 150, 80))
    d.rounded_rectangle((306, 160, 352, 250), radius=22, fill=(70, 150, 80))
    d.rectangle((282, 225, 322, 248), fill=(70, 150, 80))
    for x, y in [(240, 150), (266, 200), (244, 260), (180, 215), (328, 190)]:
        d.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(240, 230, 150))
    d.ellipse((236, 96, 276, 130), fill=(230, 80, 120))
    im = im.filter(ImageFilter.SMOOTH)
    im.save(path)


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    sample = os.path.join(OUT, "sample.png")
    draw_sample(sample)
    env = dict(os.environ)
    env["BLENDER_USER_RESOURCES"] = os.path.join(OUT, "blender-user")
    sim = None
    if env.get("PIXAZO_API_KEY"):
        print("Using the real gateway (PIXAZO_API_KEY is set): this job is paid for.", flush=True)
    else:
        sys.path.insert(0, REPO)  # the simulator lives in tools/, beside scripts/
        from tools.gateway_sim import GatewaySimulator, SimConfig

        sim = GatewaySimulator(SimConfig(api_key="demo-key", queue_seconds=1.0, processing_seconds=2.0,
                                         texture_size=1024)).start()
        env["PIXAZO_API_KEY"] = "demo-key"
        env["PIXAZO_BASE_URL"] = sim.url
        print(f"No PIXAZO_API_KEY: using the local gateway simulator at {sim.url}", flush=True)
    blend = os.path.join(OUT, "demo.blend")
    report = os.path.join(OUT, "report.json")
    png = os.path.join(OUT, "demo.png")
    try:
        proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "generate.py"), "--online-mode",
                               sample, "--out", blend, "--report", report], env=env)
        if proc.returncode != 0:
            print(f"The batch command failed (exit {proc.returncode}); see the lines above.", file=sys.stderr)
            return proc.returncode
    finally:
        if sim is not None:
            sim.stop()
    render = subprocess.run([sys.executable, "-m", "tools.render_preview", blend, png],
                            env=env, capture_output=True, text=True, cwd=REPO)
    if render.returncode != 0:
        print(render.stdout[-2000:] + render.stderr[-2000:], file=sys.stderr)
        print("Rendering the preview failed.", file=sys.stderr)
        return 1
    job = json.load(open(report))["jobs"][0]
    print("\nDemo finished:")
    print(f"  image     {sample}")
    print(f"  model     {job['glb']}")
    print(f"  scene     {blend}  (objects: {', '.join(job['objects'])})")
    print(f"  render    {png}")
    print(f"  report    {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
