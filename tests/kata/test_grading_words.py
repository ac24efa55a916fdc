"""The grader and the estimate speak the kata's words: a second kata, an image-upload pipeline built on ClearPay's
numbers but with its own parts, nouns and texts, is graded and estimated without a word of ClearPay's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kata.design import design_validate
from kata.estimate import design_estimate
from kata.palette import Palette
from kata.services import kata_load_fixture
from kata.runs.seeds import design_grade

CLEARPAY = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay"
CLEARPAY_WORDS = ("checkout", "payment", "gateway", "bank", "ledger", "merchant", "settlement", "clearpay",
                  "scenario 2's", "scenarios 1–3")
# ClearPay's part keys and node ids → the image pipeline's; the status reads are left out.
KEYS = {"checkout": "uploader", "lb": "lb", "intent_api": "upload_api", "queue": "queue",
        "settlement_worker": "resizer", "gateway": "object_store", "ledger_db": "catalog_db"}
IDS = {"checkout": "uploader", "lb": "lb", "api": "api", "queue": "queue", "queue-2": "queue-2",
       "workers": "resizers", "gateway": "store", "external": "store", "ledger": "catalog"}
NAMES = {"uploader": "Uploader", "lb": "Load balancer", "upload_api": "Upload API", "queue": "Job queue",
         "resizer": "Resizer", "object_store": "Object store (external)", "catalog_db": "Catalog database"}
pytestmark = pytest.mark.django_db


def _kata_file(tmp_path: Path) -> Path:
    data = json.loads((CLEARPAY / "kata.json").read_text())
    data.pop("must_fail")  # ClearPay's designs do not fit the pipeline's parts
    parts = [p for p in data["parts"] if p["key"] in KEYS]
    for part in parts:
        part["key"] = KEYS[part["key"]]
        part["name"] = NAMES[part["key"]]
        part["description"] = f"{part['name']} of the photo pipeline."
        part["feeds"] = [KEYS[k] for k in part.get("feeds") or [] if k in KEYS]
        part["feeds_reason"] = f"{part['name']} hands photos on along the pipeline only."
    traffic = [t for t in data["traffic"] if t["part"] == "checkout"]
    traffic[0].update(part="uploader", noun_one="photo", noun_many="photos", warmup_seconds=30, ramp_seconds=30,
                      hold_seconds=120, cooldown_seconds=120,
                      complete_through=[[KEYS[k] for k in step] for step in traffic[0]["complete_through"]])
    data["scenarios"] = [s for s in data["scenarios"] if not s.get("practice")]  # its incident hits ClearPay's gateway
    for scenario in data["scenarios"]:
        scenario.update(source="uploader", title=f"Photo scenario {scenario['order']}",
                        description="Judged on the photos of the uploader.")
    data.update(slug="photo-pipeline", title="Photo pipeline", parts=parts, traffic=traffic, drain_seconds=60,
                reference_design={}, cheapest_cost_per_hour=None)
    for key in ("summary", "overview", "context", "constraints_operational", "constraints_product", "domain"):
        if isinstance(data.get(key), str):
            data[key] = "Resize uploaded photos and record them in the catalog."
    path = tmp_path / "kata.json"
    path.write_text(json.dumps(data))
    return path


def _design(name: str) -> dict:
    """A ClearPay fixture design redrawn with the pipeline's parts (its status-read half left out)."""
    document = json.loads((CLEARPAY / "designs" / f"{name}.json").read_text())
    nodes = [dict(n, id=IDS[n["id"]], part=KEYS[n["part"]]) for n in document["nodes"] if n["part"] in KEYS]
    edges = [{"source": IDS[e["source"]], "target": IDS[e["target"]]} for e in document["edges"]
             if e["source"] in IDS and e["target"] in IDS]
    return {"nodes": nodes, "edges": edges}


@pytest.fixture
def palette(tmp_path) -> Palette:
    kata, _ = kata_load_fixture(path=_kata_file(tmp_path))
    return Palette.from_kata(kata)


def _no_clearpay_words(text: str) -> None:
    lowered = text.lower()
    assert not [w for w in CLEARPAY_WORDS if w in lowered], text


@pytest.mark.parametrize("name", ["reference", "sync-gateway", "peak-sized-settlement", "no-recovery-buffer",
                                  "split-worker-to-ledger"])
def test_grade_and_estimate_of_another_kata_use_its_nouns_and_labels(palette, name):
    document = _design(name)
    grade = design_grade(palette=palette, document=document, seeds=[1], parallel=False).grade
    text = "\n".join(f"{s.explanation} {s.next_step}" for s in grade.scenarios)
    estimate = design_estimate(design_validate(document, palette), palette)
    warnings = "\n".join(estimate.warnings)
    _no_clearpay_words(text)
    _no_clearpay_words(warnings)
    assert estimate.source_label == "Uploader" and estimate.noun_many == "photos"
    if name != "reference":
        assert grade.passed < grade.total and "photo" in text, text
        assert "Object store (external)" in text + warnings, (text, warnings)


def test_a_saturated_external_part_is_named_by_its_own_noun(palette):
    grade = design_grade(palette=palette, document=_design("peak-sized-settlement"), seeds=[1], parallel=False).grade
    text = "\n".join(f"{s.explanation} {s.next_step}" for s in grade.scenarios)
    _no_clearpay_words(text)
    assert "so Object store (external) (store) stays under 80 %: a saturated store settles less" in text, text
    assert "photos were still waiting when the run ended" in text, text
