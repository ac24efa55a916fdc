"""`python -m simulator network SPEC.json ...`: one JSON object of metrics, exit 0; bad spec: exit 2, one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.simulator.test_model import ISSUE_SPEC

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def write(tmp_path: Path, spec: Any) -> str:
    path = tmp_path / "spec.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return str(path)


def test_issue_example_prints_the_documented_metrics(tmp_path: Path) -> None:
    proc = cli("network", write(tmp_path, ISSUE_SPEC), "--requests", "3000", "--warmup", "300", "--seed", "2",
               "--percentiles", "50,99.9", "--wait-over", "0.05", "--wait-over", "1")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for station in ("gateway", "payment", "hsm", "psp"):
        for metric in ("Wq_mean", "W_mean", "W_p50", "W_p99.9", "Wq_p50", "Wq_p99.9", "P_Wq_gt_0.05",
                       "P_Wq_gt_1", "prob_wait", "throughput", "arrival_rate", "blocking_prob"):
            assert f"{station}.{metric}" in out
        assert (f"{station}.utilization" in out) == (station != "psp"), "no utilization for infinite servers"
        assert f"e2e.W_mean_exit_{station}" in out and f"e2e.frac_exit_{station}" in out
    for metric in ("e2e.W_mean", "e2e.W_p50", "e2e.W_p99.9", "e2e.throughput"):
        assert metric in out
    assert all(v is None or isinstance(v, (int, float)) for v in out.values())
    assert out["e2e.frac_exit_payment"] == pytest.approx(0.05, abs=0.02), "5 % leave after payment"
    assert out["e2e.frac_exit_gateway"] == 0.0, "everything after the gateway goes on to payment"


def test_same_arguments_print_the_same_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_SPEC)
    assert cli("network", path, "--requests", "500").stdout == cli("network", path, "--requests", "500").stdout


@pytest.mark.parametrize(("spec", "needle"), [
    ({**ISSUE_SPEC, "routing": [[0, 1, 0, 0]]}, "routing: must have 4 rows"),
    ({"arrival": {"rate": -1}, "stations": ISSUE_SPEC["stations"]}, "arrival.rate: must be > 0"),
    ("{not json", "SPEC: invalid JSON"),
])
def test_bad_spec_exits_2_with_one_line_naming_the_field(tmp_path: Path, spec: Any, needle: str) -> None:
    proc = cli("network", write(tmp_path, spec))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_exits_2_without_traceback(tmp_path: Path) -> None:
    proc = cli("network", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_warmup_not_below_requests_is_rejected_as_one_line(tmp_path: Path) -> None:
    proc = cli("network", write(tmp_path, ISSUE_SPEC), "--requests", "10", "--warmup", "10")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --warmup")


def test_run_command_prints_results_json(tmp_path: Path) -> None:
    spec = {**ISSUE_SPEC, "duration": 20.0}
    proc = cli("run", write(tmp_path, spec), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mode"] == "duration" and out["end_time"] == 20.0 and "time_series" not in out


def test_profile_ending_before_n_arrivals_is_reported_not_crashed(tmp_path: Path) -> None:
    spec = {"sources": [{"name": "s", "profile": [[0, 1], [10, 1]]}], "stations": ISSUE_SPEC["stations"]}
    proc = cli("network", write(tmp_path, spec), "--requests", "1000")
    assert proc.returncode == 2 and "--requests: the sources ended after" in proc.stderr
    assert "Traceback" not in proc.stderr
