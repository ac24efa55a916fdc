"""`manage.py compile_design`: a fixture design through the real compile path, as the bench measures it."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from kata.compiler import compile_document
from kata.palette import Palette
from kata.services import kata_load_fixture
from kata.models import Kata

CLEARPAY = Path("fixtures/clearpay")


@pytest.fixture
def clearpay_loaded(db):
    kata_load_fixture(path=CLEARPAY / "kata.json")
    return Kata.objects.get(slug="clearpay")


def test_prints_the_spec_the_grader_simulates_and_the_grading_seeds(clearpay_loaded):
    out = StringIO()
    design = CLEARPAY / "designs/reference.json"
    call_command("compile_design", str(design), "--kata", "clearpay", stdout=out)
    printed = json.loads(out.getvalue())
    palette = Palette.from_kata(clearpay_loaded)
    assert printed["spec"] == json.loads(json.dumps(compile_document(json.loads(design.read_text()), palette).spec))
    assert printed["seeds"] == list(range(1, palette.grading_seeds + 1))
    assert printed["kata"] == "clearpay"


def test_an_invalid_design_exits_2_with_the_reason(clearpay_loaded, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [], "edges": []}')
    with pytest.raises(SystemExit) as exited:
        call_command("compile_design", str(bad), "--kata", "clearpay", stderr=StringIO())
    assert exited.value.code == 2
