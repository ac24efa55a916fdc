"""`manage.py grade`: the stable interface graders and tooling use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from kata.services import kata_load_fixture

STATUS = Path("fixtures/status-cache")


@pytest.fixture
def katas(db):
    kata_load_fixture(path=STATUS / "kata.json")


def _grade(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("grade", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_json_output_has_the_documented_shape(katas):
    code, out, err = _grade(str(STATUS / "designs/reference.json"), "--kata", "status-cache", "--json", "--seeds", "2")
    assert code == 0
    # Progress on the terminal (stderr, so the JSON on stdout stays clean): one line as each seed ends.
    lines = err.splitlines()
    assert lines[0] == "Grading on seeds 1, 2…"
    assert [line.split(" (")[1].split(",")[0] for line in lines[1:]] == ["1 of 2", "2 of 2"], err
    assert {line.split()[1] for line in lines[1:]} == {"1", "2"}
    payload = json.loads(out)
    assert payload["kata"] == "status-cache" and payload["passed"] == payload["total"] == 4
    assert payload["seeds"] == [1, 2]
    assert set(payload["scenarios"][0]) == {"id", "title", "passed", "value", "unit", "threshold", "worst_seed",
                                            "values_by_seed", "explanation", "next_step"}
    for scenario in payload["scenarios"]:
        assert set(scenario["values_by_seed"]) == {"1", "2"}, "every seed's value"
        assert scenario["value"] == scenario["values_by_seed"][str(scenario["worst_seed"])], "the worst seed's value"
        assert scenario["explanation"].startswith(f"Seed {scenario['worst_seed']}, the worst of 2: ")


def test_failing_design_is_still_graded_with_exit_zero(katas):
    code, out, _ = _grade(str(STATUS / "designs/no-cache.json"), "--kata", "status-cache",
                          "--seed", "7", "--seeds", "1")
    assert code == 0
    assert "2/4 scenarios passed (seeds 7" in out and "[FAIL] 1. Fast reads" in out and "Next:" in out


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"nodes": [{"id": "x", "part": "nope"}], "edges": []}',
         "grade: invalid design: nodes[0].part: unknown part 'nope'"),
        ("{not json", "is not valid JSON"),
        ("[]", "grade: invalid design: a design must be a JSON object"),
    ],
)
def test_invalid_design_exits_2_with_one_clear_line(katas, tmp_path, content, expected):
    path = tmp_path / "design.json"
    path.write_text(content)
    code, out, err = _grade(str(path), "--kata", "status-cache")
    assert code == 2 and out == ""
    assert expected in err and err.count("\n") <= 1


@pytest.mark.parametrize(
    "args, expected",
    [
        (["missing.json", "--kata", "status-cache"], "no such file: missing.json"),
        ([str(STATUS / "designs/reference.json"), "--kata", "nope"], "no kata 'nope' (known: status-cache)"),
        ([str(STATUS / "designs/reference.json"), "--kata", "status-cache", "--seeds", "0"],
         "--seeds must be from 1 to 20"),
    ],
)
def test_bad_arguments_exit_2(katas, args, expected):
    code, _, err = _grade(*args)
    assert code == 2 and expected in err


def test_command_line_run_prints_no_traceback_for_a_bad_design(tmp_path):
    """The real command in a subprocess, against a throwaway database migrated for the purpose."""
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "db.sqlite3"), "DJANGO_SETTINGS_MODULE": "config.settings"}
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", *a], capture_output=True, text=True, env=env, timeout=120
    )
    assert run("migrate", "-v", "0").returncode == 0
    assert run("load_katas").returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [], "edges": []}')
    result = run("grade", str(bad), "--kata", "clearpay", "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("grade: invalid design: nodes: the design needs a 'Checkout'")
