"""The validating builder: good specs build frozen networks; each bad field raises SpecError naming it."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import pytest

from simulator import SpecError, build_network

ISSUE_SPEC: dict[str, Any] = {
    "arrival": {"dist": "poisson", "rate": 60.0},
    "stations": [
        {"name": "gateway", "servers": 4, "service": {"dist": "exponential", "mean": 0.02}},
        {"name": "payment", "servers": 16, "service": {"dist": "lognormal", "mean": 0.22, "scv": 2.0}, "capacity": 40},
        {"name": "hsm", "servers": 1, "service": {"dist": "erlang", "mean": 0.004, "k": 3}},
        {"name": "psp", "servers": "inf", "service": {"dist": "deterministic", "mean": 0.08}}],
    "routing": [[0, 1, 0, 0], [0, 0, 0.95, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
}


def test_issue_example_builds_a_frozen_network() -> None:
    net = build_network(ISSUE_SPEC)
    assert [s.name for s in net.stations] == ["gateway", "payment", "hsm", "psp"]
    assert net.stations[3].infinite and net.stations[1].capacity == 40
    assert net.stations[1].service.scv == 2.0 and net.stations[2].service.scv == pytest.approx(1 / 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.stations[0].servers = 5  # type: ignore[misc]


def test_missing_routing_means_tandem_in_listed_order() -> None:
    spec = {k: v for k, v in ISSUE_SPEC.items() if k != "routing"}
    assert build_network(spec).routing == ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))


def test_defaults_fill_everything_optional() -> None:
    net = build_network({"arrival": {"rate": 1}, "stations": [{"name": "a", "service": {"dist": "exponential",
                                                                                         "mean": 1}}]})
    st = net.stations[0]
    assert (st.servers, st.capacity, st.errors, st.kind, st.instances, st.unit_cost) == (1, None, None, "station", 1, 0)
    assert net.sources[0].entry == 0 and net.drain == 0.0 and net.duration is None
    assert math.isinf(net.traffic_end)


def test_buffer_defaults_to_zero_service_and_keeps_retry_policy() -> None:
    net = build_network({"arrival": {"rate": 1}, "stations": [
        {"name": "q", "kind": "buffer", "servers": 3, "acknowledge": True, "retry": {"max_attempts": 4}},
        {"name": "gw", "service": {"dist": "exponential", "mean": 1}}]})
    q = net.stations[0]
    assert q.is_buffer and q.acknowledge and q.service.mean == 0.0
    assert q.retry is not None and q.retry.max_attempts == 4
    assert [q.retry.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_profile_source_interpolates_and_ends_traffic() -> None:
    net = build_network({"sources": [{"name": "pay", "profile": [[0, 60], [120, 60], [180, 180], [300, 180]]}],
                         "stations": [{"name": "a", "service": {"dist": "exponential", "mean": 0.01}}]})
    src = net.sources[0]
    assert (src.rate_at(60), src.rate_at(150), src.rate_at(300), src.rate_at(301)) == (60, 120, 180, 0)
    assert src.peak_rate == 180 and net.traffic_end == 300


def _mutate(path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(ISSUE_SPEC)
    target: Any = spec
    keys = path.split("/")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return spec


_DELETE = object()

BAD = [
    ("stations/1/service/scv", -1, "stations[1].service.scv: must be > 0"),
    ("stations/1/service/scv", _DELETE, "stations[1].service.scv: required"),
    ("stations/0/service/mean", 0, "stations[0].service.mean: must be > 0"),
    ("stations/0/service/dist", "weibull", "stations[0].service.dist: must be one of"),
    ("stations/2/service/k", 2.5, "stations[2].service.k: must be an integer"),
    ("stations/0/service/k", 2, "stations[0].service.k: not used by dist exponential"),
    ("stations/0/servers", 0, "stations[0].servers: must be >= 1"),
    ("stations/0/servers", "many", "stations[0].servers: must be an integer"),
    ("stations/0/servers", True, "stations[0].servers: must be an integer"),
    ("stations/1/capacity", 0, "stations[1].capacity: must be >= 1"),
    ("stations/1/name", "gateway", "stations[1].name: duplicate name"),
    ("stations/1/name", "a.b", "stations[1].name: must not contain"),
    ("stations/0/colour", "red", "stations[0].colour: unknown field"),
    ("stations/0/kind", "cache", "stations[0].kind: must be 'station' or 'buffer'"),
    ("stations/0/retry", {"max_attempts": 3}, "stations[0].retry: only allowed on kind 'buffer'"),
    ("stations/0/errors", {"base": 1.5}, "stations[0].errors.base: must be <= 1"),
    ("stations/0/errors", {"base": 0.1, "threshold": 1.0}, "stations[0].errors.threshold: must be < 1"),
    ("stations/0/errors", {"base": 0.1, "max": 0.5}, "stations[0].errors.threshold: required"),
    ("stations/0/errors", {"base": 0.2, "threshold": 0.8, "max": 0.1}, "stations[0].errors.max: must be >= base"),
    ("stations/3/errors", {"threshold": 0.8}, "stations[3].errors.threshold: needs a finite number of servers"),
    ("stations/0/slowdown", {"factor": 0.5}, "stations[0].slowdown.factor: must be >= 1"),
    ("stations/0/timeout", 0, "stations[0].timeout: must be > 0"),
    ("stations/0/unit_cost", -1, "stations[0].unit_cost: must be >= 0"),
    ("stations", [], "stations: needs at least one station"),
    ("routing", [[0, 1, 0, 0]], "routing: must have 4 rows"),
    ("routing/1", [0, 0, 0.95], "routing[1]: must have 4 entries"),
    ("routing/1", [0, 0.6, 0.6, 0], "routing[1]: probabilities sum to 1.2 > 1"),
    ("routing/0", [0, 1, -0.1, 0], "routing[0][2]: must be >= 0"),
    ("routing/3", [0, 0, 1, 0], "routing: requests reaching station 'hsm' can never leave"),
    ("arrival/rate", 0, "arrival.rate: must be > 0"),
    ("arrival/rate", float("nan"), "arrival.rate: must be finite"),
    ("arrival/dist", "uniform", "arrival.dist: only 'poisson'"),
    ("arrival/entry", "nowhere", "arrival.entry: unknown station 'nowhere'"),
    ("arrival/profile", [[0, 1], [10, 2]], "arrival.rate: give exactly one of rate or profile"),
    ("sources", [{"rate": 1}], "arrival: give exactly one of arrival or sources"),
    ("duration", -5, "duration: must be > 0"),
    ("drain", "long", "drain: must be a number"),
    ("speed", 2, "speed: unknown field"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[2].split(":")[0] + "=" + repr(b[1])[:20]
                                                                    for b in BAD])
def test_bad_field_raises_spec_error_naming_it(path: str, value: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        build_network(_mutate(path, value))
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.field == message.split(":")[0]


@pytest.mark.parametrize(("source", "message"), [
    ({"profile": [[0, 5]]}, "sources[0].profile: needs at least 2 points"),
    ({"profile": [[0, 5], [0, 6]]}, "sources[0].profile[1][0]: times must be strictly increasing"),
    ({"profile": [[0, 0], [5, 0]]}, "sources[0].profile: all rates are 0"),
    ({"rate": 1, "routing": [[0, 1]]}, "sources[0].routing: must have 4 rows"),
    ({"rate": 1, "name": "x.y"}, "sources[0].name: must be a non-empty string without '.'"),
])
def test_bad_source_field_is_named(source: dict[str, Any], message: str) -> None:
    spec = {k: v for k, v in ISSUE_SPEC.items() if k != "arrival"} | {"sources": [source]}
    with pytest.raises(SpecError, match=r"^" + message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        build_network(spec)


def test_buffer_only_options_are_rejected_on_buffers_and_vice_versa() -> None:
    spec = copy.deepcopy(ISSUE_SPEC)
    spec["stations"][0] |= {"kind": "buffer", "errors": {"base": 0.1}}
    with pytest.raises(SpecError, match=r"^stations\[0\]\.errors: not allowed on a buffer"):
        build_network(spec)


def test_spec_must_be_an_object() -> None:
    with pytest.raises(SpecError, match="must be an object"):
        build_network([1, 2])  # type: ignore[arg-type]
