"""The design validator: every invalid design is refused with a message that points at the node or field."""

from __future__ import annotations

import pytest

from kata.design import MAX_NODES, DesignError, design_validate


def _problems(document, palette) -> list[str]:
    with pytest.raises(DesignError) as caught:
        design_validate(document, palette)
    return [str(p) for p in caught.value.problems]


def test_reference_design_is_valid_and_fills_defaults(clearpay_palette, design_file):
    design = design_validate(design_file("reference"), clearpay_palette)
    assert len(design.nodes) == 10
    lb = design.node("lb")
    assert lb.params == {"instances": 1.0, "concurrency": 1000.0}
    assert ([n.id for n in design.topological()][:3] == ["checkout", "lb", "status"]
            or design.topological()[0].part.role == "source")


@pytest.mark.parametrize(
    "document, expected",
    [
        (None, "a design must be a JSON object"),
        ([], "a design must be a JSON object"),
        ({"nodes": "x", "edges": []}, "nodes: must be a list"),
        ({"nodes": [], "edges": {}}, "edges: must be a list"),
        ({"nodes": [{"id": f"n{i}", "part": "lb"} for i in range(MAX_NODES + 1)], "edges": []}, "at most 40 parts"),
    ],
)
def test_malformed_documents_are_refused(clearpay_palette, document, expected):
    assert any(expected in p for p in _problems(document, clearpay_palette))


def test_unknown_part_names_the_node_and_the_choices(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"][1]["part"] = "mainframe"
    problems = _problems(document, clearpay_palette)
    assert problems[0].startswith("nodes[1].part: unknown part 'mainframe' (choose from: cache, checkout")


def test_parameter_out_of_range_names_the_field_and_the_range(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"][2]["params"]["instances"] = 99
    assert _problems(document, clearpay_palette) == ["nodes[2].params.instances: 99 is out of range: choose 1 to 20"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("3", "must be a number"),
        (2.5, "is not on the allowed steps: choose a whole number"),
        (float("nan"), "must be a number"),
    ],
)
def test_parameter_values_must_be_numbers_of_the_right_kind(clearpay_palette, design_file, value, expected):
    document = design_file("reference")
    document["nodes"][2]["params"]["instances"] = value
    assert expected in _problems(document, clearpay_palette)[0]


def test_unknown_and_fixed_parameters_are_refused(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"][1]["params"] = {"turbo": 1, "concurrency": 5}
    problems = _problems(document, clearpay_palette)
    assert "nodes[1].params.turbo: 'Load balancer' has no parameter 'turbo'" in problems[0]
    assert problems[1] == "nodes[1].params.concurrency: is fixed at 1000 for 'Load balancer'"


def test_missing_gateway_and_checkout_are_named(clearpay_palette):
    problems = _problems({"nodes": [{"id": "lb", "part": "lb"}], "edges": []}, clearpay_palette)
    assert "nodes: the design needs a 'Checkout' (checkout)" in problems
    assert "nodes: the design needs a 'Payment gateway (external)' (gateway)" in problems


def test_dangling_edge_is_refused(clearpay_palette, design_file):
    document = design_file("reference")
    document["edges"].append({"source": "workers", "target": "ghost"})
    assert "no part with id 'ghost' (dangling connection)" in _problems(document, clearpay_palette)[0]


def test_disconnected_part_is_named(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"].append({"id": "spare", "part": "cache", "x": 10, "y": 10})
    assert _problems(document, clearpay_palette) == [
        "nodes[10]: 'Cache (spare)' is not connected to any traffic source"
    ]


def test_cycle_is_refused_and_shown(clearpay_palette, design_file):
    document = design_file("reference")
    document["edges"].append({"source": "workers", "target": "queue"})
    problems = _problems(document, clearpay_palette)
    assert problems == ["edges: the connections form a cycle queue → workers → queue; requests must flow one way"]


def test_self_loop_duplicate_and_edge_into_a_source_are_refused(clearpay_palette, design_file):
    document = design_file("reference")
    document["edges"] += [
        {"source": "lb", "target": "lb"},
        {"source": "lb", "target": "api"},
        {"source": "api", "target": "checkout"},
    ]
    problems = _problems(document, clearpay_palette)
    assert any("'lb' cannot connect to itself" in p for p in problems)
    assert any("duplicate connection lb → api" in p for p in problems)
    assert any("is a traffic source; nothing connects into it" in p for p in problems)


def test_queue_without_consumer_and_source_feeding_two_parts_are_refused(clearpay_palette, design_file):
    document = design_file("reference")
    document["edges"] = [e for e in document["edges"] if e["source"] != "queue"]
    document["edges"].append({"source": "checkout", "target": "api"})
    problems = _problems(document, clearpay_palette)
    assert any("'Queue' has no consumer" in p for p in problems)
    assert any("'Checkout' must feed exactly one part (it feeds 2)" in p for p in problems)


def test_too_many_of_one_part_is_refused(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"].append({"id": "gateway-2", "part": "gateway", "x": 900, "y": 300})
    document["edges"].append({"source": "workers", "target": "gateway-2"})
    assert "nodes: at most 1 'Payment gateway (external)' per design (got 2)" in _problems(document, clearpay_palette)


def test_bad_ids_and_coordinates_are_refused(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"][0]["id"] = "has space"
    document["nodes"][1]["x"] = -5
    problems = _problems(document, clearpay_palette)
    assert problems[0].startswith("nodes[0].id: must be 1–40 letters")
    assert problems[1] == "nodes[1].x: must be a number from 0 to 10000"


def test_an_edge_the_kata_forbids_is_refused_with_its_reason_and_what_is_allowed(clearpay_palette, design_file):
    document = design_file("reference")
    document["edges"].append({"source": "cache", "target": "status-api"})
    problems = _problems(document, clearpay_palette)
    assert problems == ["edges[9]: A cache serves status reads only: a payment can't be answered from a cache, and "
                        "its misses go to the ledger. (Cache may connect to: Ledger database.)"]


def test_a_part_that_feeds_one_part_cannot_split(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"].append({"id": "ledger-2", "part": "ledger_db", "params": {}, "x": 1, "y": 1})
    document["edges"].append({"source": "gateway", "target": "ledger-2"})
    problems = _problems(document, clearpay_palette)
    assert any("'Payment gateway (external)' feeds at most one part (it feeds 2)" in p for p in problems)


@pytest.mark.parametrize(("value", "ok"), [(30000, True), (30050, False), (100, True), (150, False)])
def test_every_parameter_step_is_enforced(clearpay_palette, design_file, value, ok):
    document = design_file("reference")
    document["nodes"][3]["params"]["capacity"] = value
    if ok:
        design_validate(document, clearpay_palette)
    else:
        assert _problems(document, clearpay_palette) == [
            f"nodes[3].params.capacity: {value} is not on the allowed steps: choose a step of 100 from 100"]


def test_slots_need_cores(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"][4]["params"] = {"instances": 1, "cores": 2, "concurrency": 20}
    problems = _problems(document, clearpay_palette)
    assert problems == ["nodes[4].params.concurrency: 20 requests in flight need more cores: 2 cores hold at most 4 "
                        "(2 per core). Raise cores or lower concurrency."]


def test_every_source_must_reach_what_completes_its_requests(clearpay_palette, design_file):
    document = design_file("reference")
    document["nodes"] = [n for n in document["nodes"] if n["id"] not in ("status-api", "cache")]
    document["edges"] = [e for e in document["edges"] if e["source"] not in ("status", "status-api", "cache")]
    problems = _problems(document, clearpay_palette)
    assert any("the design needs a 'Status API'" in p for p in problems)
    assert any("no path from 'Merchant status polling (status)' reaches 'Cache' or 'Ledger database'" in p
               for p in problems)
