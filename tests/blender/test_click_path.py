"""One image's path from the Generate button to its worker's start, traced in a
fresh Blender (tools.trace_path): every file is entered once and every call goes
down the layers, for a file and for a URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("source", ["file", "url"])
def test_a_click_enters_each_file_once_and_only_goes_down(source):
    proc = subprocess.run([sys.executable, "-m", "tools.trace_path", "--source", source], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-2000:]
    assert f"source: {source}; worker started: True" in out
    entered = re.search(r"files entered: (\d+); hops between files: (\d+); re-entered: (\d+)", out)
    assert entered, out
    files, hops, again = map(int, entered.groups())
    assert again == 0, out
    assert hops == files, out  # a tree: one call into each file, none back
    assert "hops up the layers: 0" in out, out
    path = re.search(r"call path at the worker's start: \d+ files: (.*)", out).group(1).split(" -> ")
    assert path == ["tripo_addon/blender/ui/operators.py", "tripo_addon/blender/engine/start.py",
                    "tripo_addon/blender/engine/manager.py"], out
