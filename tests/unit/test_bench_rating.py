"""Smoke test of ``portal bench rating`` at tiny sizes: the report's figures agree with each other (never timed)."""

from __future__ import annotations

from portal.bench.rating import measure
from portal.cli import build_parser


def test_bench_rating_counts_every_event_and_both_paths_bill_the_same() -> None:
    args = build_parser().parse_args(["bench", "rating", "--contracts", "9", "--events", "3000", "--drafts", "25"])
    report = measure(args.contracts, args.events, args.drafts, args.seed)
    # 9 contracts: a parent with three children, then five on their own.
    assert (report.contracts, report.families) == (9, 6)
    assert report.events_counted == report.events_generated == 3000
    assert report.due_from_events_minor == report.due_from_rollups_minor > 0
    assert report.drafts >= 25
    assert report.rollups > 0
    assert report.consistent
    assert "consistent           yes" in list(report.lines())
