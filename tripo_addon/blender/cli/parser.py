"""The batch command's argument parser: every option with its help, and usage
errors as one line (exit 2) instead of argparse's own exit."""

from __future__ import annotations

import argparse
import re
import sys

from ...core.choices import ALIGNMENTS, ORIENTATIONS, TEXTURES
from ...core.jobs import DEFAULT_PARAMS

EPILOG = """environment:
  PIXAZO_API_KEY    your Pixazo API key (required)
  PIXAZO_BASE_URL   gateway address (default https://gateway.pixazo.ai; http only for this computer)
  BLENDER_USER_RESOURCES  moves Blender's user folder, and with it the job journal
  TRIPO3D_UPLOAD    how local images travel: auto (default), inline, or s3://BUCKET/PREFIX
  AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION
                    your S3-compatible bucket's endpoint, credentials and region

Re-running the same command resumes unfinished jobs and re-imports finished
ones from disk instead of paying again; --force submits anew.
exit codes: 0 all imported, 1 some image failed, 2 usage or configuration error"""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "--poll-interval -inf" or "-1e3" is a (bad) value, not an unknown option, so it is
        # checked and refused in one line like any other number ("-x.png" stays an option).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf(inity)?|nan)$",
                                                   re.IGNORECASE)

    def error(self, message: str):  # one line, exit 2, no usage dump to stdout
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


class UsageError(Exception):
    """A usage error, already one line: main() prints it and exits 2."""


def build_parser(prog: str = "generate.py") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Turn images into textured 3D models with Tripo3D v2.5 and import them.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files (any format Blender reads), folders, globs, http(s) URLs, or @LIST.txt "
                        "(one path or URL a line)")
    p.add_argument("--recursive", action="store_true", help="also take images in the sub-folders of a folder")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="take only the K-th of N stable shares of the images (one farm task each)")
    p.add_argument("--texture", default=DEFAULT_PARAMS["texture"],
                   help=f"texture quality: {', '.join(TEXTURES)} (default %(default)s; other values are passed on)")
    p.add_argument("--texture-alignment", default=DEFAULT_PARAMS["texture_alignment"],
                   help=f"{', '.join(ALIGNMENTS)} (default %(default)s)")
    p.add_argument("--orientation", default=DEFAULT_PARAMS["orientation"],
                   help=f"{', '.join(ORIENTATIONS)} (default %(default)s)")
    p.add_argument("--out", metavar="FILE.blend", help="save the scene with the imported models")
    p.add_argument("--report", metavar="FILE.json", help="write a JSON report of every job (rewritten after each)")
    p.add_argument("--out-dir", metavar="DIR", help="also save one .blend per image (models then leave the "
                   "scene unless --out is given too)")
    p.add_argument("--glb-dir", metavar="DIR", help="keep a copy of each GLB here, named after its image")
    p.add_argument("--save-every", type=int, default=25, metavar="N",
                   help="save --out after every N imports (and every 10 minutes), and at the end")
    p.add_argument("--webhook-url", metavar="URL", default="",
                   help="also have the gateway POST each job's status to this https address (the batch still polls)")
    p.add_argument("--webhook-mode", choices=("terminal", "sync"), default="",
                   help="terminal: once at the end (the gateway's default); sync: at every status change too")
    p.add_argument("--jobs", type=int, default=8, metavar="N",
                   help="jobs in flight at once (default %(default)s)")
    p.add_argument("--online-mode", action="store_true",
                   help="allow network access for this run (as Blender's own --online-mode)")
    p.add_argument("--force", action="store_true", help="submit again (and pay again) even if a job exists")
    p.add_argument("--upload", default=None, metavar="ROUTE",
                   help="how local images reach the gateway: auto (your bucket when one is set, else inline), "
                        "inline (experimental), or s3://BUCKET/PREFIX (default: TRIPO3D_UPLOAD, else auto)")
    p.add_argument("--poll-interval", type=str, default=2.0, metavar="SECONDS",
                   help="seconds between status checks of a job (default %(default)s, at least 1)")
    p.add_argument("--max-download-mb", type=str, default=512, metavar="MB",
                   help="refuse model files larger than this (default %(default)s)")
    p.add_argument("--normalize-size", type=str, default=0.0, metavar="METRES",
                   help="scale each model so its largest side is this long (default: keep)")
    p.add_argument("--no-ground", action="store_true", help="do not rest models on the ground at the 3D cursor")
    p.add_argument("--keep-paths", action="store_true",
                   help="store the image's and the model's full paths on the imported objects "
                        "(by default only their file names go into the .blend)")
    p.add_argument("--keep-metadata", action="store_true",
                   help="send pictures with their EXIF, GPS, XMP and IPTC metadata (by default it is removed)")
    _add_game_ready(p)
    return p


#: Fields Tripo's own API takes; the Pixazo contract documents only texture,
#: texture_alignment and orientation, so the gateway may ignore these.
TRIPO_FIELDS = ("face_limit", "pbr", "quad", "auto_size", "texture_quality", "seeds")


def _add_game_ready(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("game-ready outputs", "after each import, on the main thread: the post-script, then "
                             "the face budget, texture size and LODs, then the export")
    g.add_argument("--faces", default="0", metavar="N",
                   help="decimate each model to about N triangles, keeping UVs and textures (default 0: keep)")
    g.add_argument("--texture-size", default="0", metavar="PX",
                   help="downscale textures larger than PX pixels on a side, kept with the model (default 0: keep)")
    g.add_argument("--lods", default="1", metavar="K",
                   help="make K levels of detail NAME_LOD0..NAME_LOD{K-1} at 100/50/25%% of --faces, then halving "
                        "(default 1: none)")
    g.add_argument("--export-dir", default="", metavar="DIR",
                   help="write one file per image here, named after it (textures as the format needs)")
    g.add_argument("--export-format", default="", metavar="FORMAT",
                   help="glb, fbx, obj, usd or stl (default glb when --export-dir is given)")
    g.add_argument("--apply-transforms", action="store_true",
                   help="apply each model's location, rotation and scale before the export")
    g.add_argument("--post-script", default="", metavar="FILE.py",
                   help="a Python file whose process(objects, info) is called for each imported model before the "
                        "optimising and the export; if it raises, that image alone fails with its message")
    g.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="send an extra field to the gateway as it is, the value read as JSON when it is JSON "
                        "(repeatable). The Pixazo gateway documents three fields (the --texture, "
                        "--texture-alignment and --orientation options) and may ignore any other; "
                        f"{', '.join(TRIPO_FIELDS)} are fields Tripo's own API takes")
