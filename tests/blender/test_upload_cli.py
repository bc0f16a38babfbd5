"""The batch command sends local images through the user's bucket (a real
SeaweedFS server) to a gateway that refuses inline images, and leaves the
bucket empty."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from helpers import make_image
from test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)


@pytest.fixture
def bucket_env(seaweed, cli_env):  # noqa: F811
    name = f"cli-{uuid.uuid4().hex[:16]}"
    seaweed.create_bucket(name)
    env = {**cli_env, "AWS_ENDPOINT_URL_S3": seaweed.endpoint, "AWS_ACCESS_KEY_ID": seaweed.access_key_id,
           "AWS_SECRET_ACCESS_KEY": seaweed.secret_access_key, "AWS_REGION": seaweed.region}
    return name, env


def tiff_file(path) -> str:
    from PIL import Image

    im = Image.open(io.BytesIO(make_image("PNG", size=(90, 70), color=(30, 200, 90))))
    im.save(path, format="TIFF")
    return str(path)


def test_png_and_tiff_go_through_the_bucket(sim, seaweed, bucket_env, image_files, tmp_path):
    name, env = bucket_env
    sim.configure(refuse_inline=True)
    tiff = tiff_file(tmp_path / "scan.tif")
    report = tmp_path / "r.json"
    proc = run_cli(["--online-mode", "--upload", f"s3://{name}/incoming", image_files["png"], tiff,
                    "--report", str(report), "--poll-interval", "1"], env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert f"Local images travel via your bucket s3://{name}/incoming" in proc.stdout
    jobs = json.loads(report.read_text())["jobs"]
    assert [j["status"] for j in jobs] == ["COMPLETED", "COMPLETED"]
    sent = sim.jobs()
    assert len(sent) == 2 and sim.stats()["inline_refused"] == 0
    assert all(j["image_url"].startswith(f"{seaweed.endpoint}/{name}/incoming/") for j in sent)
    # The TIFF was converted before upload (the simulator decoded what it fetched):
    # a PNG, or a JPEG when that is much smaller.
    exts = sorted(j["image_url"].split("?")[0].rsplit(".", 1)[1] for j in sent)
    assert exts in (["png", "png"], ["jpg", "png"]), exts
    assert seaweed.list_keys(name) == []
    assert env["AWS_SECRET_ACCESS_KEY"] not in out + report.read_text()


def test_upload_route_from_the_environment(sim, seaweed, bucket_env, image_files):
    name, env = bucket_env
    sim.configure(refuse_inline=True)
    proc = run_cli(["--online-mode", image_files["jpg"], "--poll-interval", "1"],
                   {**env, "TRIPO3D_UPLOAD": f"s3://{name}/env"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sim.jobs()[0]["image_url"].startswith(f"{seaweed.endpoint}/{name}/env/")
    assert seaweed.list_keys(name) == []


def test_inline_refused_without_a_bucket_says_what_to_do(sim, cli_env, image_files):  # noqa: F811
    sim.configure(refuse_inline=True)
    proc = run_cli(["--online-mode", image_files["png"], "--poll-interval", "1"], cli_env)
    assert proc.returncode == 1
    assert "Local images travel inline (experimental)" in proc.stdout
    failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("[1/1] FAILED")]
    assert len(failed) == 1 and "refused the image sent inline" in failed[0]
    assert "--upload s3://BUCKET/PREFIX" in failed[0] and "Traceback" not in proc.stdout + proc.stderr
    assert sim.stats()["submits"] == 0


@pytest.mark.parametrize("case", ["no_secret", "bad_spec", "http_remote_endpoint"])
def test_bucket_configuration_errors_exit_2_before_anything_is_sent(sim, seaweed, bucket_env, image_files, case):
    name, env = bucket_env
    args = ["--online-mode", image_files["png"], "--upload", f"s3://{name}/x"]
    if case == "no_secret":
        env = {k: v for k, v in env.items() if k != "AWS_SECRET_ACCESS_KEY"}
    elif case == "bad_spec":
        args[-1] = "s3://"
    else:
        env = {**env, "AWS_ENDPOINT_URL_S3": "http://storage.example.com"}
    proc = run_cli(args, env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert sim.stats()["submit_attempts"] == 0 and seaweed.list_keys(name) == []
