"""The game-ready step in real Blender: extra gateway fields from the console, a Tripo-like model
optimised (face budget, texture size, LODs) and exported, then read back by Blender's own importers."""

from __future__ import annotations

import pytest
from test_ui_jobs import addon, ui  # noqa: F401  (fixtures)

from tripo_addon import api
from tripo_addon.core import errors as E
from tripo_addon.core.jobs import State


@pytest.mark.matrix
def test_console_extra_fields_reach_the_gateway_and_name_their_job(ui, image_files):  # noqa: F811
    job = api.generate(image_files["png"], extra={"face_limit": 8000, "pbr": False}, wait=True, timeout=60)
    assert job.state == State.IMPORTED, job.error
    [sent] = ui.jobs()
    assert sent["params"]["face_limit"] == 8000 and sent["params"]["pbr"] is False
    assert sent["params"]["texture"] == "standard"  # the documented fields keep their own options
    again = api.generate(image_files["png"], extra={"face_limit": 8000, "pbr": False}, wait=True, timeout=60)
    assert again.id == job.id and ui.stats()["submits"] == 1  # the same fields: never paid twice
    other = api.generate(image_files["png"], extra={"face_limit": 4000, "pbr": False}, wait=True, timeout=60)
    assert other.id != job.id and ui.stats()["submits"] == 2


def test_console_refuses_a_documented_field_as_extra(ui, image_files):  # noqa: F811
    with pytest.raises(E.BadOption, match="use --texture"):
        api.generate(image_files["png"], extra={"texture": "HD"})
    assert ui.stats()["submit_attempts"] == 0
