"""Command line: ``winback run``, ``winback backfill``, ``winback demo``, ``winback params``,
``winback status``.

Errors a user can act on (bad params, bad input data, a failed stage, a busy engagement)
print a message and exit non-zero without a Python traceback; ``--debug`` shows it.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from winback.config import ParamsError, load_params
from winback.runner import EngagementBusyError, RunFailed, backfill, engagement_status, run_month
from winback.settings import month_range
from winback.store import StoreBusyError

__all__ = ["main"]

EXIT_USER_ERROR = 2
EXIT_RUN_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="winback", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--engagement", "-e", required=True, help="params overlay params/<name>.yaml")
        sp.add_argument(
            "--set", "-s", action="append", default=[], metavar="KEY=VALUE",
            help="params override, e.g. --set tiering.n_tiers=4 (repeatable)",
        )
        sp.add_argument("--quiet", "-q", action="store_true", help="no progress bars")

    run = sub.add_parser("run", help="run every stage of one month")
    common(run)
    run.add_argument("--month", "-m", required=True, help="YYYY-MM")
    run.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                     help="wait this long for another run of the engagement to finish")
    run.add_argument("--stage", action="append", default=None,
                     help="run only this stage id (repeatable; for debugging a stage)")
    run.add_argument("--force-campaign", action="store_true",
                     help="allow rewriting the campaign log of a month whose contact outcomes "
                          "have been recorded")

    bf = sub.add_parser("backfill", help="run a range of months in order")
    common(bf)
    bf.add_argument("--from", dest="first", required=True, help="first month, YYYY-MM")
    bf.add_argument("--to", dest="last", required=True, help="last month, YYYY-MM")

    demo = sub.add_parser(
        "demo", help="generate the demo engagement's data and run its months end to end"
    )
    demo.add_argument("--from", dest="first", default=None, help="first month (default: run.first_month)")
    demo.add_argument("--to", dest="last", default=None, help="last month (default: run.month)")
    demo.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE")
    demo.add_argument("--fresh", action="store_true", help="discard the demo's data and runs first")
    demo.add_argument("--quiet", "-q", action="store_true")

    status = sub.add_parser(
        "status", help="list the engagement's months: complete, failed, interrupted or running"
    )
    status.add_argument("--engagement", "-e", required=True)
    status.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE")

    show = sub.add_parser("params", help="print the merged, validated params of an engagement")
    show.add_argument("--engagement", "-e", default=None)
    show.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE")
    return p


def _cmd_params(args: argparse.Namespace) -> int:
    params = load_params(args.engagement, args.set)
    print(f"# merged from {', '.join(params.files)}")
    print(yaml.safe_dump(params.raw, allow_unicode=True, sort_keys=False), end="")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    manifest = run_month(
        args.engagement, args.month, args.set, progress=not args.quiet,
        wait_seconds=args.wait, only=args.stage, force_campaign=args.force_campaign,
    )
    for text in manifest.get("warnings", []):
        print(f"winback: warning: {text}", file=sys.stderr)
    print(f"{args.engagement} {args.month}: {manifest['status']} in {manifest['seconds']} s")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    rows = engagement_status(args.engagement, args.set)
    if not rows:
        print(f"{args.engagement}: no months run yet")
    for row in rows:
        kept = ("" if row["status"] == "complete" else
                " (previous complete output kept)" if row["complete_output"] else "")
        print(f"{row['month']}  {row['status']:<11} {row['detail']}{kept}".rstrip())
    return 0


def _cmd_backfill(args: argparse.Namespace) -> int:
    manifests = backfill(args.engagement, args.first, args.last, args.set, progress=not args.quiet)
    print(f"{args.engagement}: {len(manifests)} months complete ({args.first} .. {args.last})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from winback.demo_loop import DemoLoop

    params = load_params("demo", args.set)
    first = args.first or params.run.first_month
    last = args.last or params.run.month
    month_range(first, last)  # validates the order
    loop = DemoLoop(params, fresh=args.fresh)
    backfill("demo", first, last, args.set, progress=not args.quiet, before_month=loop.deliver)
    print(f"demo: months {first} .. {last} complete; outputs in {loop.ws.engagement_runs}")
    return 0


COMMANDS = {"run": _cmd_run, "backfill": _cmd_backfill, "demo": _cmd_demo, "params": _cmd_params,
            "status": _cmd_status}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ParamsError, EngagementBusyError, StoreBusyError, OSError, ValueError,
            KeyError) as exc:
        if args.debug:
            raise
        # KeyError's str() is the repr of its message; OSError names the file itself
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"winback: {text}", file=sys.stderr)
        return EXIT_USER_ERROR
    except RunFailed as exc:
        if args.debug:
            raise
        print(f"winback: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
