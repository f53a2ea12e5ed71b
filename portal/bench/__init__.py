"""Benchmarks: ``portal bench TARGET [options]``.

Each target is a :class:`Target` in :data:`TARGETS`: the module that runs it
(with a ``run(args) -> int`` function), its help and its options. Add a
target by adding an entry. Options are declared here, as data, so that
building the command line never imports a benchmark (``portal --help``
stays fast); the module is imported only when its target runs.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One ``--name`` option of a target, with its default and type (an integer unless said otherwise)."""

    name: str
    default: int | str | None
    help: str
    kind: type = int


@dataclass(frozen=True)
class Target:
    """A benchmark: the module with its ``run(args)``, what it measures, and its options."""

    module: str
    help: str
    options: tuple[Option, ...] = ()


TARGETS: dict[str, Target] = {
    "rating": Target(
        "portal.bench.rating",
        "rate a generated month in process: events/s aggregated and rated, invoice drafts/s from aggregated "
        "usage and from rollups",
        (
            Option("contracts", 1_000, "contracts to generate (default 1,000)"),
            Option("events", 1_000_000, "usage events to generate (default 1,000,000)"),
            Option("drafts", 10_000, "invoice drafts to time from aggregated usage, and from rollups (default 10,000)"),
            Option("seed", 2026, "seed of the generator (the same seed gives the same month)"),
            Option("mix", "realistic", "the month: realistic (default) or worst-case (every complication, often)", str),
        ),
    ),
    "ingest": Target(
        "portal.bench.ingest",
        "ingest over HTTP against a live portal: events/s, latency, time until balances reflect events",
        (
            Option("seconds", 60, "how long to send (default 60)"),
            Option("clients", 4, "concurrent clients sending batches of 100 (default 4)"),
            Option("customers", 50, "customers the events are spread over (default 50)"),
            Option("seed", 2026, "seed of the generator"),
            Option("url", None, "a running portal (default: start one with portal run on a fresh SQLite file)", str),
            Option("key", None, "a staff API key of the portal given with --url", str),
        ),
    ),
    "invoices": Target(
        "portal.bench.invoices",
        "the invoice run: close the billing periods of many customers (rate, finalize, store, ask for payment)",
        (
            Option("customers", 1_000, "customers on Team (default 1,000)"),
            Option("periods", 1, "closed periods to invoice for each (default 1)"),
            Option("seed", 2026, "seed of the generator"),
        ),
    ),
    "pages": Target(
        "portal.bench.pages",
        "page loads in Chromium: pricing, sign-in and the dashboard, first load and cached",
        (
            Option("runs", 5, "loads of each page in a new browser profile (default 5)"),
            Option("url", None, "a running portal with the demo data (default: start one with portal run)", str),
        ),
    ),
    "simulate": Target(
        "portal.bench.simulate",
        "simulate a package change over real usage of many customers (the gate before publishing): seconds",
        (
            Option("customers", 1_000, "customers on the changed package (default 1,000)"),
            Option("periods", 3, "closed periods replayed for each (default 3)"),
            Option("seed", 2026, "seed of the generator"),
        ),
    ),
}
"""Benchmark targets by name."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one sub-command per target, with its options."""
    targets = parser.add_subparsers(dest="target", required=True, metavar="TARGET")
    for name, target in TARGETS.items():
        sub = targets.add_parser(name, help=target.help, description=target.help)
        for option in target.options:
            sub.add_argument(f"--{option.name}", type=option.kind, default=option.default, help=option.help)


def run(args: argparse.Namespace) -> int:
    """Run the chosen target; its exit status."""
    status: int = importlib.import_module(TARGETS[args.target].module).run(args)
    return status
