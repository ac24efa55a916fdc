"""The load-test command refuses what it must not do before it logs anyone in; its figures are nearest-rank."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from kata.loadtest import LearnerResult, percentile, summarize

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("arguments", "refusal"), [
    (["--url", "http://example.com:8000"], "only targets this machine"),
    (["--url", "ftp://127.0.0.1"], "not an http"),
    (["--learners", "0"], "between 1 and 100"),
    (["--learners", "101"], "between 1 and 100"),
    (["--timeout", "0"], "at most 900"),
    (["--timeout", "901"], "at most 900"),
    (["--kata", "no-such-kata"], "no published kata"),
])
def test_bad_arguments_are_refused_with_a_reason(clearpay, arguments, refusal):
    with pytest.raises(CommandError, match=refusal):
        call_command("loadtest", *arguments)


def test_an_unreadable_design_is_refused(clearpay, tmp_path):
    broken = tmp_path / "design.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError, match="cannot read the design"):
        call_command("loadtest", "--design", str(broken))


def test_figures_use_nearest_rank_and_count_errors():
    assert percentile([], 95) is None
    assert percentile([float(v) for v in range(1, 21)], 95) == 19.0
    assert percentile([float(v) for v in range(1, 21)], 50) == 10.0
    results = [LearnerResult(username=f"u{i}", status="succeeded", first_frame_s=0.1 * i, final_s=10.0 + i, frames=5)
               for i in range(1, 20)]
    results.append(LearnerResult(username="u20", error="socket: refused"))
    summary = summarize(results, wall_s=30.0, lost=0)
    assert summary["completed"] == 19 and summary["errors"] == 1 and summary["frames_total"] == 95
    assert summary["first_frame_p95_s"] == pytest.approx(1.9), "rank ceil(0.95 × 19) = 19 of the 19 who got a frame"
    assert summary["error_messages"] == ["socket: refused"]
