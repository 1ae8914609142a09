"""``percept eval events`` (added to the percept CLI by :func:`register`).

    percept eval events --gt GT.jsonl --events events.jsonl [--window 2.0] [--json]

Prints per-type precision, recall and latency (see :mod:`events.evaluate`); ``--json`` prints
one JSON list of rows instead. Exit code 2 with a one-line message on stderr for unusable input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from percept import cliutil


def _eval_subparsers(registry: Any) -> Any:
    """The subparsers of ``percept eval``, created here if no other package made ``eval`` yet."""
    commands = registry.commands
    parser = commands.choices.get("eval")
    if parser is None:
        parser = commands.add_parser("eval", help="evaluate results against ground truth")
        return parser.add_subparsers(dest="eval", required=True)
    # argparse keeps a parser's subparsers only among its actions (no public accessor)
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def cmd_eval_events(args: argparse.Namespace) -> int:
    """Score ``--events`` against ``--gt``; returns 0, or 2 on an EventsError."""
    from events.errors import EventsError
    from events.evaluate import evaluate_files, format_table

    try:
        results = evaluate_files(args.gt, args.events, args.window)
    except EventsError as exc:
        return cliutil.error(f"eval events: {cliutil.error_text(exc)}")
    cliutil.out(json.dumps([r.as_dict() for r in results]) if args.json else format_table(results))
    return 0


def register(registry: Any) -> None:
    """Add ``eval events`` to the ``percept`` CLI (see ``percept.cli.CommandRegistry``)."""
    e = _eval_subparsers(registry).add_parser(
        "events", help="event precision, recall and latency per type against ground-truth events")
    e.add_argument("--gt", required=True, help="ground-truth events, JSON lines (e.g. recorded gt/events)")
    e.add_argument("--events", required=True, help="detected events, JSON lines (the JSONL sink's output)")
    e.add_argument("--window", type=float, default=2.0,
                   help="most seconds between a ground-truth event and its match (default 2.0)")
    e.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    e.set_defaults(func=cmd_eval_events)
