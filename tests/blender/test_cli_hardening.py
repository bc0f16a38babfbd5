"""Issue 9, classes 3 (keys), 4 (numbers) and 5 (arguments) at the batch
command: bad values are one line on stderr, exit 2, nothing sent, no
traceback; the environment's key wins over the preferences' and the run says
which it uses; ``--`` means the same under python and under blender."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import SIM_KEY, make_image

from tripo_addon.blender.cli import main as cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATE = os.path.join(REPO, "scripts", "generate.py")


def clean_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "TRIPO3D_"))}
    env.update(extra or {})
    return env


def run(argv: list[str], env: dict, form: str = "python", timeout: float = 240) -> subprocess.CompletedProcess:
    """Run scripts/generate.py as python does, or as the blender binary runs a --python script:
    sys.argv is Blender's whole command line (argv[0] the binary), the file executed as __main__."""
    if form == "python":
        cmd = [sys.executable, GENERATE, *argv]
    else:
        code = ("import sys; path = sys.argv[1]; "
                "sys.argv = ['/usr/bin/blender', '--background', '--python', path, '--', *sys.argv[2:]]; "
                "exec(compile(open(path).read(), path, 'exec'), {'__name__': '__main__', '__file__': path})")
        cmd = [sys.executable, "-c", code, GENERATE, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def cli_env(sim, user_res):
    return clean_env({"PIXAZO_API_KEY": SIM_KEY, "PIXAZO_BASE_URL": sim.url, "BLENDER_USER_RESOURCES": str(user_res),
                      "TRIPO3D_RETRY_BASE_DELAY": "0.05"})


def assert_usage_error(proc, sim, expect: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], proc.stderr
    assert "Traceback" not in out and SIM_KEY not in out
    assert sim.stats()["submit_attempts"] == 0 and sim.stats()["status_requests"] == 0


# -- 4: numbers ----------------------------------------------------------------------------

BAD_OPTIONS = [
    ("--poll-interval", v) for v in ("nan", "inf", "-inf", "0", "-1", "0.5", "1e400", "abc", "")
] + [
    ("--max-download-mb", v) for v in ("nan", "inf", "0", "-5", "2.5", "1e3", "")
] + [
    ("--normalize-size", v) for v in ("nan", "inf", "-inf", "-1", "-0.001", "1e400")
]
BAD_ENV = [
    ("TRIPO3D_RETRY_ATTEMPTS", v) for v in ("0", "-1", "nan", "inf", "2.5", " ")
] + [
    ("TRIPO3D_RETRY_BASE_DELAY", v) for v in ("0", "-1", "nan", "inf", "-inf", "soon")
] + [
    ("TRIPO3D_READ_TIMEOUT", v) for v in ("0", "-2", "nan", "inf", "1e400")
]


@pytest.mark.parametrize("option,value", BAD_OPTIONS)
def test_bad_number_option_is_one_line_exit_2(blender, sim, capsys, monkeypatch, option, value):
    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    code = cli.main([f"{option}={value}", "--online-mode", "x.png"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {option} must be") and repr(value) in lines[0]
    assert sim.stats()["submit_attempts"] == 0


@pytest.mark.parametrize("name,value", BAD_ENV)
def test_bad_tuning_variable_is_one_line_exit_2(blender, sim, capsys, monkeypatch, name, value):
    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    monkeypatch.setenv(name, value)
    code = cli.main(["--online-mode", "x.png"])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: {name} must be")
    assert sim.stats()["submit_attempts"] == 0


@pytest.mark.parametrize("argv,extra,expect", [
    (["--poll-interval", "-inf"], {}, "--poll-interval must be"),  # a value, not an unknown option
    (["--max-download-mb", "0"], {}, "--max-download-mb must be"),
    (["--normalize-size", "nan"], {}, "--normalize-size must be"),
    ([], {"TRIPO3D_READ_TIMEOUT": "nan"}, "TRIPO3D_READ_TIMEOUT must be"),
    ([], {"TRIPO3D_RETRY_ATTEMPTS": "0"}, "TRIPO3D_RETRY_ATTEMPTS must be"),
    ([], {"TRIPO3D_RETRY_BASE_DELAY": "-1"}, "TRIPO3D_RETRY_BASE_DELAY must be"),
])
def test_bad_numbers_at_the_real_command(sim, cli_env, image_files, argv, extra, expect):
    proc = run(["--online-mode", *argv, image_files["png"]], {**cli_env, **extra})
    assert_usage_error(proc, sim, expect)


# -- 3: keys --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["sim-key 0123456789", "sim-key-0123456789\u20ac", "sim-key\t0123456789"])
def test_unsendable_key_is_a_configuration_error(sim, cli_env, image_files, key):
    proc = run(["--online-mode", image_files["png"]], {**cli_env, "PIXAZO_API_KEY": key})
    assert_usage_error(proc, sim, "PIXAZO_API_KEY: The Pixazo API key has")
    assert "0123456789" not in proc.stdout + proc.stderr


WITH_SAVED_KEY = """
import sys
sys.path.insert(0, {repo!r})
import bpy  # first: it makes addon_utils importable
import addon_utils
addon_utils.enable("tripo_addon", default_set=True)
bpy.context.preferences.addons["tripo_addon"].preferences.api_key = {saved!r}
from tripo_addon.blender.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("case", ["env_wins", "saved_only"])
def test_environment_key_wins_over_the_saved_one_and_the_run_says_which(sim, cli_env, image_files, tmp_path, case):
    env = dict(cli_env)
    saved = "a-saved-but-wrong-key" if case == "env_wins" else SIM_KEY
    if case == "saved_only":
        env.pop("PIXAZO_API_KEY")
    report = tmp_path / "r.json"
    code = WITH_SAVED_KEY.format(repo=REPO, saved=saved)
    proc = subprocess.run([sys.executable, "-c", code, "--online-mode", "--poll-interval", "1",
                           image_files["png"], "--report", str(report)], capture_output=True, text=True,
                          timeout=240, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out  # the saved wrong key would have been a 401
    said = [ln for ln in proc.stdout.splitlines() if "API key" in ln]
    if case == "env_wins":
        assert said == ["Tripo3D: using the API key from PIXAZO_API_KEY "
                        "(the key saved in the add-on preferences is not used)."]
    else:
        assert said == ["Tripo3D: using the API key from the add-on preferences."]
    assert SIM_KEY not in out and "a-saved-but-wrong-key" not in out and "Traceback" not in out
    assert json.loads(report.read_text())["jobs"][0]["status"] == "COMPLETED"
    assert sim.stats()["submits"] == 1


# -- 5: arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["python", "blender"])
def test_double_dash_means_the_same_under_python_and_blender(sim, cli_env, tmp_path, form, monkeypatch):
    """A file named -x.png, passed after "--"; the options before "--" still count."""
    monkeypatch.chdir(tmp_path)  # put back afterwards: later tests must not run from here
    (tmp_path / "-x.png").write_bytes(make_image("PNG", size=(64, 48)))
    report = tmp_path / "r.json"
    proc = run(["--online-mode", "--poll-interval", "1", "--normalize-size", "0", "--report", str(report),
                "--", "-x.png"], cli_env, form)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    jobs = json.loads(report.read_text())["jobs"]
    assert [(j["image"], j["status"]) for j in jobs] == [("-x.png", "COMPLETED")]
    assert "Traceback" not in out and sim.stats()["submits"] == 1


def test_dash_file_without_double_dash_is_a_usage_error_not_a_traceback(sim, cli_env, tmp_path):
    (tmp_path / "-x.png").write_bytes(make_image("PNG"))
    proc = run(["--online-mode", "-x.png"], {**cli_env}, "blender")
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert sim.stats()["submit_attempts"] == 0
