"""Command line: `python -m simulator network SPEC.json ...`, `python -m simulator run SPEC.json`, `... bench`.

`network` is the stable interface tools and graders rely on: it prints ONE JSON object (metric name -> number, null
when undefined) and exits 0; a bad spec exits 2 with one line naming the field, never a traceback. Both `network` and
`run` print one `warning:` line on stderr per station whose results say it was unstable (overloaded): the metrics of
such a station describe a run that never settled, and grow with its length.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .engine import Simulation, run
from .engine.overload import describe
from .results import Results
from .build import build_network
from .model import SpecError

__all__ = ["main"]


def _percentiles(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or any(not 0 < v < 100 for v in values):
        raise argparse.ArgumentTypeError("percentiles must be in (0, 100)")
    return values


def _load_spec(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            spec = json.load(fh)
    except OSError as exc:
        raise SpecError("SPEC", f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SpecError("SPEC", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return spec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    net = sub.add_parser("network", help="run N requests through a network, print flat metrics as JSON")
    net.add_argument("spec", metavar="SPEC.json")
    net.add_argument("--requests", type=int, default=100_000, help="number of arrivals (default 100000)")
    net.add_argument("--warmup", type=int, default=0, help="first W arrivals count in no statistic (default 0)")
    net.add_argument("--seed", type=int, default=1)
    net.add_argument("--percentiles", type=_percentiles, default=(50.0, 95.0, 99.0), help="e.g. 50,95,99")
    net.add_argument("--wait-over", type=float, action="append", default=[], metavar="T",
                     help="also print <station>.P_Wq_gt_T (repeatable)")
    full = sub.add_parser("run", help="duration-mode run (profiles, drain), print Results.to_dict() as JSON")
    full.add_argument("spec", metavar="SPEC.json")
    full.add_argument("--seed", type=int, default=1)
    full.add_argument("--step", type=float, default=1.0, help="snapshot step in simulated seconds")
    full.add_argument("--series", action="store_true", help="include the time series")
    bench = sub.add_parser("bench", help="engine vs idiomatic SimPy and ciw, and ClearPay's graded run")
    bench.add_argument("--requests", type=int, default=100_000, help="tandem requests (default 100000)")
    bench.add_argument("--repeat", type=int, default=3, help="best of R timings (default 3)")
    bench.add_argument("--spec", default=None, help="a compiled {spec, seeds} JSON instead of ClearPay's reference")
    bench.add_argument("--synthetic", action="store_true", help="also the synthetic ClearPay-size spec")
    bench.add_argument("--no-tandem", action="store_true", help="only the ClearPay figures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "bench":
        from .bench import main as bench_main  # the bench and its reference engines load only when asked for

        return bench_main(requests=args.requests, repeat=args.repeat, spec=args.spec, synthetic=args.synthetic,
                          tandem=not args.no_tandem)
    try:
        network = build_network(_load_spec(args.spec))
        if args.command == "network":
            if args.requests < 1:
                raise SpecError("--requests", "must be >= 1")
            if not 0 <= args.warmup < args.requests:
                raise SpecError("--warmup", "must be >= 0 and < --requests")
            sim = Simulation(network, seed=args.seed, requests=args.requests, warmup=args.warmup)
            out: dict[str, Any] = sim.metrics(args.percentiles, tuple(args.wait_over))
            results = sim.results()
        else:
            if args.step <= 0:
                raise SpecError("--step", "must be > 0")
            results = run(network, seed=args.seed, step=args.step)
            out = results.to_dict()
            if not args.series:
                out.pop("time_series")
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _warn_unstable(results)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _warn_unstable(results: Results) -> None:
    for station in results.stations:
        if station.unstable is not None:
            print(f"warning: {describe(station.name, station.unstable)}", file=sys.stderr)
