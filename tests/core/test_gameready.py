"""core.gameready: the game-ready options, LOD budgets and names, export names, extra gateway fields."""

from __future__ import annotations

import pytest

from tripo_addon.core import errors as E
from tripo_addon.core.gameready import (
    GameReadyOptions, export_file_name, lod_budgets, lod_name, merge_extra, parse_param,
)


def test_defaults_change_nothing():
    options = GameReadyOptions()
    assert not options.optimises and not options.exports
    assert options.lod_ratios == (1.0, 0.5, 0.25)


def test_a_folder_alone_exports_glb_and_formats_are_case_free(tmp_path):
    assert GameReadyOptions(export_dir=str(tmp_path)).export_format == "glb"
    assert GameReadyOptions(export_format=" FBX ").export_format == "fbx"
    assert GameReadyOptions(export_format="usd").exports


@pytest.mark.parametrize("kwargs, words", [
    ({"faces": -1}, "face budget"),
    ({"faces": 2}, "at least 4 triangles"),
    ({"faces": 5000.5}, "face budget"),
    ({"faces": True}, "face budget"),
    ({"texture_size": 100000}, "texture size"),
    ({"lods": 0}, "number of LODs"),
    ({"lods": 9}, "number of LODs"),
    ({"lod_ratios": (1.0, 0.0)}, "LOD ratios"),
    ({"lod_ratios": (0.5, 1.0)}, "no larger than the one before"),
    ({"lod_ratios": ("a",)}, "LOD ratios"),
    ({"export_format": "blend"}, "glb, fbx, obj, usd, stl"),
    ({"post_script": "hook.txt"}, "not a .py file"),
    ({"post_script": "/nowhere/hook.py"}, "does not exist"),
])
def test_each_bad_value_is_one_sentence(kwargs, words):
    with pytest.raises(E.BadOption) as caught:
        GameReadyOptions(**kwargs)
    message = caught.value.message
    assert words in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert caught.value.kind == "bad_option"


def test_several_bad_values_give_one_sentence_each(tmp_path):
    a_file = tmp_path / "out.fbx"
    a_file.write_bytes(b"")
    with pytest.raises(E.BadOption) as caught:
        GameReadyOptions(faces=-5, lods=20, export_format="max", export_dir=str(a_file))
    message = caught.value.message
    for words in ("face budget", "number of LODs", "export format", "is a file"):
        assert words in message
    assert message.count(". ") == 3


def test_a_real_post_script_is_taken(tmp_path):
    script = tmp_path / "hook.py"
    script.write_text("def process(objects, info):\n    pass\n")
    assert GameReadyOptions(post_script=str(script)).post_script == str(script)


def test_lod_budgets_follow_the_ratios_then_halve():
    assert lod_budgets(5000, 1) == [5000]
    assert lod_budgets(5000, 3) == [5000, 2500, 1250]
    assert lod_budgets(5000, 5) == [5000, 2500, 1250, 625, 312]
    assert lod_budgets(1000, 3, (1.0, 0.3)) == [1000, 300, 150]
    assert lod_budgets(3, 4)[-1] == 1  # never below one triangle


def test_options_budgets_use_the_model_when_no_budget():
    assert GameReadyOptions(lods=2).budgets(8000) == [8000, 4000]
    assert GameReadyOptions(faces=5000, lods=3).budgets(50000) == [5000, 2500, 1250]


def test_lod_names_are_the_engines():
    assert [lod_name("chair", i) for i in range(3)] == ["chair_LOD0", "chair_LOD1", "chair_LOD2"]


@pytest.mark.parametrize("image, fmt, expected", [
    ("/in/photos/chair.png", "fbx", "chair.fbx"),
    ("C:\\in\\chair.final.jpg", "obj", "chair.final.obj"),
    ("https://example.com/a/robot.webp?sig=1#x", "glb", "robot.glb"),
    ("Render Result", "usd", "Render_Result.usd"),
    ("../../etc/passwd", "stl", "passwd.stl"),
    ("...", "glb", "model.glb"),
    ("lamp.png", "GLB", "lamp.glb"),
])
def test_export_file_names_follow_the_image(image, fmt, expected):
    assert export_file_name(image, fmt) == expected


def test_export_file_name_refuses_an_unknown_format():
    with pytest.raises(E.BadOption, match="not one Blender writes"):
        export_file_name("a.png", "max")


@pytest.mark.parametrize("text, expected", [
    ("face_limit=8000", ("face_limit", 8000)),
    ("pbr=true", ("pbr", True)),
    ("quad=false", ("quad", False)),
    ("seeds=[1, 2]", ("seeds", [1, 2])),
    ("texture_quality=detailed", ("texture_quality", "detailed")),
    ('style="a=b"', ("style", "a=b")),
    ("note=a=b", ("note", "a=b")),
    ("empty=", ("empty", "")),
    (" auto_size = true", ("auto_size", True)),
])
def test_parse_param_reads_json_else_the_text(text, expected):
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["face_limit", "=3", "bad name=1"])
def test_parse_param_refuses_what_is_not_name_value(text):
    with pytest.raises(E.BadOption):
        parse_param(text)


def test_merge_extra_keeps_the_documented_fields():
    params = {"texture": "standard", "texture_alignment": "original_image", "orientation": "default"}
    merged = merge_extra(params, {"face_limit": 8000, "pbr": False})
    assert merged == {**params, "face_limit": 8000, "pbr": False}
    assert params == {"texture": "standard", "texture_alignment": "original_image", "orientation": "default"}
    assert merge_extra(params, None) == params


def test_merge_extra_refuses_a_documented_field_with_its_option():
    with pytest.raises(E.BadOption) as caught:
        merge_extra({}, {"texture": "HD", "orientation": "default"})
    assert "use --texture" in caught.value.message and "use --orientation" in caught.value.message
    with pytest.raises(E.BadOption, match="set by the job"):
        merge_extra({}, {"image_url": "https://x"})
    with pytest.raises(E.BadOption, match="cannot be sent as JSON"):
        merge_extra({}, {"when": object()})


# --- extra gateway fields travel, and name their own job ---------------------------------------

def test_extra_fields_travel_in_the_submit_body(sim, make_client, journal, prepared, params):
    from tripo_addon.core.engine.planning import Decision, plan
    from tripo_addon.core.engine.runner import RunSettings, advance

    extra = {"face_limit": 8000, "pbr": False, "seeds": [1, 2], "texture_quality": "detailed"}
    p = plan(journal, prepared, merge_extra(params, extra))
    assert p.decision == Decision.SUBMIT
    job = advance(p.job, make_client(), journal, image_url=prepared.image_url,
                  settings=RunSettings(poll_interval=0.02))
    p.release()
    assert job.request_id
    [sent] = sim.jobs()
    assert sent["params"] == {**params, **extra}  # false and lists arrive as they are
    assert journal.load(job.id).params == {**params, **extra}


def test_another_face_limit_is_another_job(sim, make_client, journal, prepared, params):
    from tripo_addon.core.engine.planning import Decision, plan
    from tripo_addon.core.engine.runner import RunSettings, advance

    fast = RunSettings(poll_interval=0.02)
    first = plan(journal, prepared, merge_extra(params, {"face_limit": 8000}))
    done = advance(first.job, make_client(), journal, image_url=prepared.image_url, settings=fast)
    first.release()
    assert done.state == "downloaded"

    same = plan(journal, prepared, merge_extra(params, {"face_limit": 8000}))
    assert same.decision == Decision.REIMPORT and same.job.id == done.id  # never paid twice
    same.release()
    other = plan(journal, prepared, merge_extra(params, {"face_limit": 4000}))
    assert other.decision == Decision.SUBMIT and other.job.id != done.id
    other.release()
    plain = plan(journal, prepared, params)
    assert plain.decision == Decision.SUBMIT and plain.job.id not in (done.id, other.job.id)
    plain.release()
    assert sim.stats()["submits"] == 1
