"""Secrets stay home: the settings' repr hides the key and the bucket's secret, and a gateway that
echoes the request (a presigned link, a data: URI, the key) leaves none of it in the journal, the
report, the console or the bug log."""

from __future__ import annotations

import json
import os

from helpers import SIM_KEY, make_image
from test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)

CREDENTIAL = "AKIAEXAMPLE7Q3ZK2LMN"
SIGNATURE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PICTURE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
PRESIGNED = (f"https://bucket.s3.eu-west-1.amazonaws.com/tripo3d/up/pic.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              f"&X-Amz-Credential={CREDENTIAL}%2F20261207%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261207T1200Z"
              f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}")
ECHO = (f"could not read image_url {PRESIGNED} (request: {{\"image_url\": \"data:image/png;base64,{PICTURE}\", "
        f"\"Ocp-Apim-Subscription-Key\": \"{SIM_KEY}\", \"X-Amz-Signature\": \"{SIGNATURE}\"}})")
SECRETS = (CREDENTIAL, SIGNATURE, PICTURE, SIM_KEY)


def _files_holding(root, secrets=SECRETS) -> list[str]:
    found = []
    for folder, _dirs, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(folder, name)
            data = open(path, "rb").read()
            found += [f"{path}: {s[:8]}" for s in secrets if s.encode() in data]
    return found


def test_an_echoed_request_leaves_no_secret_in_the_journal_report_or_console(
        sim, cli_env, tmp_path, user_res):  # noqa: F811
    sim.configure(outcome="FAILED", outcome_error=ECHO, queue_seconds=0.2, processing_seconds=0.3)
    image = tmp_path / "pic.png"
    image.write_bytes(make_image("PNG", size=(40, 40)))
    report = tmp_path / "r.json"
    proc = run_cli(["--online-mode", "--poll-interval", "1", str(image), "--report", str(report)], cli_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    [entry] = json.loads(report.read_text())["jobs"]
    # The server's words are kept, its secrets are not.
    assert "could not read image_url https://bucket.s3.eu-west-1.amazonaws.com/tripo3d/up/pic.png?…" in entry["error"]
    assert "data:…" in entry["error"]
    journal = [p for p in _walk(user_res) if p.endswith(".json") and "/jobs/" in p]
    assert journal and any("data:…" in (json.load(open(p, encoding="utf-8")).get("error") or "") for p in journal)
    assert _files_holding(user_res) == [] and _files_holding(tmp_path) == []
    assert not [s for s in SECRETS if s in out]


def _walk(root) -> list[str]:
    return [os.path.join(d, n) for d, _s, names in os.walk(str(root)) for n in names]


def test_a_bug_whose_text_holds_a_link_or_a_picture_is_logged_without_them(tmp_path):
    from tripo_addon.core import buglog

    try:
        raise ValueError(ECHO)
    except ValueError as exc:
        path = buglog.record(str(tmp_path), exc, f"fetching {PRESIGNED}")
    text = open(path, encoding="utf-8").read()
    assert "ValueError" in text and "pic.png?…" in text and "Traceback" in text
    assert not [s for s in (CREDENTIAL, SIGNATURE, PICTURE) if s in text]


def test_the_settings_repr_hides_the_key_and_the_bucket_secret(blender, monkeypatch):
    from tripo_addon.blender import settings as settings_mod

    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    settings = settings_mod.Settings(api_key=SIM_KEY, base_url="https://gateway.pixazo.ai",
                                     upload="s3://bucket/prefix",
                                     bucket_fields={"bucket": "bucket", "access_key_id": CREDENTIAL,
                                                    "secret_access_key": secret, "region": "eu-west-1"})
    assert settings.storage is not None and settings.storage.secret_access_key == secret
    for text in (repr(settings), str(settings), repr(settings.storage), f"{settings!r}"):
        assert SIM_KEY not in text and secret not in text, text
