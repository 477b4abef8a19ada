"""Generate a demo client without campaigns: ``python -m winback.demo --root DIR --through YYYY-MM``.

Creates the world under ``DIR`` (or reopens it) and advances it month by month, with no
campaign, until data through ``--through`` is delivered. Used by the performance benchmark
(e.g. ``--customers 1000000``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m winback.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="folder of the demo client's data")
    parser.add_argument("--customers", type=int, default=4000, help="customers signed up by the first month")
    parser.add_argument("--seed", type=int, default=20240101, help="engagement seed")
    parser.add_argument("--history-start", default="2022-01", help="first month of the client's history")
    parser.add_argument("--first-month", default=None,
                        help="engagement's first month, simulated by the creation (default: 2024-01, "
                             "or --through when earlier)")
    parser.add_argument("--through", required=True, help="last month to deliver (YYYY-MM)")
    parser.add_argument("--quiet", "-q", action="store_true")
    args = parser.parse_args(argv)

    from winback.demo import DemoWorld

    def say(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    through = pd.Period(args.through, "M")
    start = time.perf_counter()
    if (args.root / "sim" / "state.npz").exists():
        world = DemoWorld.open(args.root)
        say(f"opened {world!r}")
    else:
        first = args.first_month or str(min(pd.Period("2024-01", "M"), through))
        world = DemoWorld.create(args.root, n_customers=args.customers, seed=args.seed,
                                 history_start=args.history_start, first_month=first)
        say(f"created {world!r} in {time.perf_counter() - start:.1f}s")
    while pd.Period(world.data_through, "M") < through:
        month = str(pd.Period(world.data_through, "M") + 1)
        tick = time.perf_counter()
        world.advance(month)
        say(f"advanced to {month} in {time.perf_counter() - tick:.1f}s")
    if pd.Period(world.data_through, "M") > through:
        say(f"note: the world already holds data through {world.data_through} (after --through {args.through})")
    say(f"done in {time.perf_counter() - start:.1f}s: {world.root}/client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
