"""Billable metrics: matching, aggregation per window and group, rejected values, duplicates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from portal.domain.errors import DomainError, IncompatibleStates, InvalidMetric, InvalidUsageEvent, InvalidWindows
from portal.domain.metrics import (
    METERING_RESOLUTION,
    AggregatedUsage,
    Aggregation,
    AggregationState,
    BillableMetric,
    BucketedUsage,
    CountState,
    FilterOp,
    LatestState,
    MaxState,
    PropertyFilter,
    RawUsage,
    SumState,
    UniqueState,
    UsageEvent,
    aggregate,
    aggregate_buckets,
    aggregate_many,
    bucket_start,
    fold_events,
    merge,
    merge_all,
    on_the_hour,
    quantity,
    rated_from,
    split_by_customer,
)
from portal.domain.periods import Period, utc

JAN = Period(utc(2026, 1, 1), utc(2026, 2, 1))
ONE_WINDOW = (JAN,)
HALVES = JAN.split_at([utc(2026, 1, 16)])


def event(txn: str, when: int = 1, event_type: str = "tokens", customer: str = "c1", **props: str) -> UsageEvent:
    """An event on day ``when`` of January 2026 at noon."""
    return UsageEvent(txn, customer, event_type, utc(2026, 1, when, 12), props)


def metric(aggregation: Aggregation, key: str | None = "tokens", **kwargs: object) -> BillableMetric:
    return BillableMetric("m", "Tokens", "tokens", aggregation, key, **kwargs)  # type: ignore[arg-type]


def only_state(states: Mapping[tuple[int, tuple[str, ...]], AggregationState]) -> AggregationState:
    assert len(states) == 1
    return next(iter(states.values()))


# --- each aggregation ---------------------------------------------------------------------------


def test_count_counts_matching_events() -> None:
    events = [event("a"), event("b"), event("c", event_type="other")]
    result = aggregate(metric(Aggregation.COUNT, None), events, ONE_WINDOW)
    # 2 events of type "tokens"; the "other" one does not match.
    assert result.states == {(0, ()): CountState(2)}


def test_sum_adds_decimal_strings_exactly() -> None:
    events = [event("a", tokens="0.1"), event("b", tokens="0.2"), event("c", tokens="1200")]
    result = aggregate(metric(Aggregation.SUM), events, ONE_WINDOW)
    # 0.1 + 0.2 + 1200 = 1200.3 exactly (no float drift).
    assert result.states == {(0, ()): SumState(Decimal("1200.3"))}


def test_max_keeps_largest() -> None:
    events = [event("a", tokens="5"), event("b", tokens="12.5"), event("c", tokens="7")]
    assert aggregate(metric(Aggregation.MAX), events, ONE_WINDOW).states == {(0, ()): MaxState(Decimal("12.5"))}


def test_latest_is_by_timestamp_then_transaction_id() -> None:
    events = [
        event("b", when=3, tokens="30"),
        event("z", when=2, tokens="20"),
        event("a", when=3, tokens="31"),  # same instant as "b": "b" > "a" so "b" is the later
    ]
    state = only_state(aggregate(metric(Aggregation.LATEST), events, ONE_WINDOW).states)
    assert state == LatestState(utc(2026, 1, 3, 12), "b", Decimal(30))
    assert isinstance(state, LatestState)
    assert quantity(state) == 30


def test_unique_counts_distinct_values_as_text() -> None:
    events = [event("a", tokens="u1"), event("b", tokens="u2"), event("c", tokens="u1"), event("d", tokens="01")]
    state = only_state(aggregate(metric(Aggregation.UNIQUE), events, ONE_WINDOW).states)
    # u1, u2 and "01" are distinct: 3.
    assert state == UniqueState(frozenset({"u1", "u2", "01"}))
    assert isinstance(state, UniqueState)
    assert quantity(state) == 3


def test_no_usage_gives_no_states_and_quantity_zero() -> None:
    result = aggregate(metric(Aggregation.SUM), [], ONE_WINDOW)
    assert result.states == {}
    assert result.total() is None
    assert quantity(result.total()) == 0


# --- filters ---------------------------------------------------------------------------------------


def test_filter_exists() -> None:
    m = metric(Aggregation.COUNT, None, filters=(PropertyFilter("model", FilterOp.EXISTS),))
    events = [event("a", model="gpt"), event("b"), event("c", model="")]
    # "a" and "c" have the property (an empty value still exists); "b" does not.
    assert aggregate(m, events, ONE_WINDOW).states == {(0, ()): CountState(2)}


def test_filter_in() -> None:
    m = metric(Aggregation.COUNT, None, filters=(PropertyFilter("model", FilterOp.IN, ("gpt", "claude")),))
    events = [event("a", model="gpt"), event("b", model="claude"), event("c", model="llama"), event("d")]
    assert aggregate(m, events, ONE_WINDOW).states == {(0, ()): CountState(2)}


def test_filter_not_in_lets_events_without_the_property_pass() -> None:
    m = metric(Aggregation.COUNT, None, filters=(PropertyFilter("region", FilterOp.NOT_IN, ("eu",)),))
    events = [event("a", region="eu"), event("b", region="us"), event("c")]
    # "a" is excluded; "b" has another value; "c" has no region and passes.
    assert aggregate(m, events, ONE_WINDOW).states == {(0, ()): CountState(2)}


def test_filters_combine_with_and() -> None:
    m = metric(
        Aggregation.COUNT,
        None,
        filters=(PropertyFilter("region", FilterOp.EXISTS), PropertyFilter("region", FilterOp.NOT_IN, ("eu",))),
    )
    events = [event("a", region="eu"), event("b", region="us"), event("c")]
    assert aggregate(m, events, ONE_WINDOW).states == {(0, ()): CountState(1)}


def test_filtered_out_events_are_not_rejected() -> None:
    m = metric(Aggregation.SUM, filters=(PropertyFilter("model", FilterOp.IN, ("gpt",)),))
    result = aggregate(m, [event("a", model="llama", tokens="abc")], ONE_WINDOW)
    assert result.states == {}
    assert result.rejected == ()


# --- groups and windows ----------------------------------------------------------------------------


def test_group_keys_with_missing_value_as_empty_string() -> None:
    m = metric(Aggregation.SUM, group_keys=("user_id", "model"))
    events = [
        event("a", user_id="u1", model="gpt", tokens="10"),
        event("b", user_id="u1", model="gpt", tokens="5"),
        event("c", user_id="u2", model="gpt", tokens="7"),
        event("d", model="gpt", tokens="1"),
    ]
    result = aggregate(m, events, ONE_WINDOW)
    assert result.states == {
        (0, ("u1", "gpt")): SumState(Decimal(15)),  # 10 + 5
        (0, ("u2", "gpt")): SumState(Decimal(7)),
        (0, ("", "gpt")): SumState(Decimal(1)),
    }
    assert result.groups() == (("", "gpt"), ("u1", "gpt"), ("u2", "gpt"))
    assert result.total(("u1", "gpt")) == SumState(Decimal(15))
    assert result.total() == SumState(Decimal(23))  # 15 + 7 + 1


def test_single_group_key() -> None:
    m = metric(Aggregation.COUNT, None, group_keys=("user_id",))
    result = aggregate(m, [event("a", user_id="u1"), event("b", user_id="u1"), event("c")], ONE_WINDOW)
    assert result.states == {(0, ("u1",)): CountState(2), (0, ("",)): CountState(1)}


def test_windows_are_half_open_and_outside_events_ignored() -> None:
    m = metric(Aggregation.SUM)
    events = [
        UsageEvent("a", "c1", "tokens", utc(2026, 1, 16), {"tokens": "1"}),  # exactly at the cut: second window
        UsageEvent("b", "c1", "tokens", utc(2026, 1, 15, 23, 59, 59), {"tokens": "2"}),  # first window
        UsageEvent("c", "c1", "tokens", utc(2026, 2, 1), {"tokens": "4"}),  # at the end: outside
        UsageEvent("d", "c1", "tokens", utc(2025, 12, 31, 23, 59, 59), {"tokens": "8"}),  # before: outside
        UsageEvent("e", "c1", "tokens", utc(2026, 1, 1), {"tokens": "16"}),  # at the start: first window
    ]
    result = aggregate(m, events, HALVES)
    assert result.states == {(0, ()): SumState(Decimal(18)), (1, ()): SumState(Decimal(1))}  # 2 + 16; 1
    assert result.rejected == ()


def test_windows_must_be_contiguous() -> None:
    with pytest.raises(InvalidWindows, match="sorted and contiguous"):
        aggregate(metric(Aggregation.COUNT, None), [], (HALVES[1], HALVES[0]))
    with pytest.raises(InvalidWindows, match="at least one window"):
        aggregate(metric(Aggregation.COUNT, None), [], ())


def test_non_utc_timestamps_are_converted() -> None:
    plus_two = timezone(timedelta(hours=2))
    ev = UsageEvent("a", "c1", "tokens", utc(2026, 1, 16, 1).astimezone(plus_two), {})
    assert ev.timestamp == utc(2026, 1, 16, 1)
    assert ev.timestamp.utcoffset() == timedelta(0)


# --- rejected values and duplicates ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("abc", "tokens='abc' is not a number"),
        ("NaN", "tokens='NaN' is not a number"),
        ("Infinity", "tokens='Infinity' is not a number"),
        ("", "tokens='' is not a number"),
        ("-5", "tokens='-5' is negative"),
        ("1e18", "tokens='1e18' is too large"),
    ],
)
@pytest.mark.parametrize("aggregation", [Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST])
def test_unusable_values_are_rejected_with_reason(aggregation: Aggregation, raw: str, reason: str) -> None:
    result = aggregate(metric(aggregation), [event("bad", tokens=raw), event("good", tokens="3")], ONE_WINDOW)
    assert len(result.rejected) == 1
    rejected = result.rejected[0]
    assert (rejected.transaction_id, rejected.metric_id) == ("bad", "m")
    assert reason in rejected.reason
    assert quantity(result.total()) == 3  # the good event still counts


@pytest.mark.parametrize("aggregation", [Aggregation.SUM, Aggregation.UNIQUE])
def test_missing_aggregation_key_is_rejected(aggregation: Aggregation) -> None:
    result = aggregate(metric(aggregation), [event("bad", other="1")], ONE_WINDOW)
    assert result.states == {}
    assert [(r.transaction_id, r.reason) for r in result.rejected] == [
        ("bad", "The property 'tokens' is missing; send it with every 'tokens' event.")
    ]


def test_duplicate_transaction_ids_count_once_first_wins() -> None:
    events = [event("a", tokens="10"), event("a", tokens="999"), event("b", tokens="1"), event("a", tokens="5")]
    result = aggregate(metric(Aggregation.SUM), events, ONE_WINDOW)
    assert result.states == {(0, ()): SumState(Decimal(11))}  # 10 (first "a") + 1
    assert result.duplicates == ("a", "a")


def test_duplicate_of_other_event_type_still_counts_as_seen() -> None:
    # The idempotency key is per event, whatever its type: the later retry is ignored.
    events = [event("a", event_type="other"), event("a", tokens="10")]
    result = aggregate(metric(Aggregation.SUM), events, ONE_WINDOW)
    assert result.states == {}
    assert result.duplicates == ("a",)


# --- many metrics in one pass ----------------------------------------------------------------------


def test_aggregate_many_matches_one_by_one() -> None:
    tokens = BillableMetric("tok", "Tokens", "tokens", Aggregation.SUM, "tokens", group_keys=("user_id",))
    requests = BillableMetric("req", "Requests", "tokens", Aggregation.COUNT)
    storage = BillableMetric("gb", "Storage", "storage", Aggregation.MAX, "gb")
    events = [
        event("a", 2, user_id="u1", tokens="10"),
        event("b", 20, user_id="u2", tokens="x"),
        event("c", 20, event_type="storage", gb="7"),
        event("d", 3, event_type="storage", gb="9"),
    ]
    together = aggregate_many((tokens, requests, storage), events, HALVES)
    assert together == {m.id: aggregate(m, events, HALVES) for m in (tokens, requests, storage)}
    assert together["req"].states == {(0, ()): CountState(1), (1, ()): CountState(1)}
    assert together["gb"].states == {(0, ()): MaxState(Decimal(9)), (1, ()): MaxState(Decimal(7))}
    assert [r.transaction_id for r in together["tok"].rejected] == ["b"]


def test_aggregate_many_refuses_repeated_metric() -> None:
    m = metric(Aggregation.COUNT, None)
    with pytest.raises(InvalidMetric, match="once per pass"):
        aggregate_many((m, m), [], ONE_WINDOW)


def test_split_by_customer_keeps_order() -> None:
    a1, b1, a2 = event("1", customer="a"), event("2", customer="b"), event("3", customer="a")
    assert split_by_customer([a1, b1, a2]) == {"a": (a1, a2), "b": (b1,)}


# --- merge ---------------------------------------------------------------------------------------


def test_merge_each_kind() -> None:
    assert merge(CountState(2), CountState(3)) == CountState(5)
    assert merge(SumState(Decimal("1.5")), SumState(Decimal(2))) == SumState(Decimal("3.5"))
    assert merge(MaxState(Decimal(2)), MaxState(Decimal(5))) == MaxState(Decimal(5))
    early = LatestState(utc(2026, 1, 1), "z", Decimal(1))
    late = LatestState(utc(2026, 1, 2), "a", Decimal(2))
    assert merge(early, late) == late == merge(late, early)
    assert merge(UniqueState(frozenset("ab")), UniqueState(frozenset("bc"))) == UniqueState(frozenset("abc"))
    assert merge_all([]) is None


def test_merge_refuses_different_kinds() -> None:
    with pytest.raises(IncompatibleStates, match="same metric"):
        merge(SumState(Decimal(1)), MaxState(Decimal(1)))
    with pytest.raises(IncompatibleStates, match="same metric"):
        merge_all([SumState(Decimal(1)), SumState(Decimal(2)), CountState(1)])


def test_merge_all_folds_many_states() -> None:
    assert merge_all([SumState(Decimal("0.5"))] * 3) == SumState(Decimal("1.5"))
    assert merge_all([CountState(2), CountState(5)]) == CountState(7)
    assert merge_all([MaxState(Decimal(3)), MaxState(Decimal(9)), MaxState(Decimal(4))]) == MaxState(Decimal(9))


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: BillableMetric("m", "M", "t", Aggregation.SUM), "needs an aggregation key"),
        (lambda: BillableMetric("m", "M", "t", Aggregation.COUNT, "x"), "takes no aggregation key"),
        (lambda: BillableMetric("", "M", "t", Aggregation.COUNT), "needs an id"),
        (lambda: BillableMetric("m", "M", "", Aggregation.COUNT), "needs the event type"),
        (lambda: BillableMetric("m", "M", "t", Aggregation.COUNT, group_keys=("a", "a")), "group key twice"),
        (lambda: BillableMetric("m", "M", "t", Aggregation.COUNT, group_keys=("",)), "empty group key"),
        (lambda: PropertyFilter("k", FilterOp.EXISTS, ("x",)), "takes no values"),
        (lambda: PropertyFilter("k", FilterOp.IN, ()), "needs at least one value"),
        (lambda: PropertyFilter("k", FilterOp.IN, "gpt"), "not the single string"),
        (lambda: PropertyFilter("", FilterOp.EXISTS), "name of the property"),
    ],
)
def test_invalid_metric_definitions(build: object, message: str) -> None:
    with pytest.raises(InvalidMetric, match=message):
        build()  # type: ignore[operator]


def test_invalid_events() -> None:
    with pytest.raises(InvalidUsageEvent, match="transaction_id"):
        UsageEvent("", "c", "t", utc(2026, 1, 1), {})
    with pytest.raises(InvalidUsageEvent, match="event_type"):
        UsageEvent("a", "c", "", utc(2026, 1, 1), {})
    with pytest.raises(DomainError, match="no timezone"):
        UsageEvent("a", "c", "t", datetime(2026, 1, 1), {})


# --- metering resolution: hourly rollups --------------------------------------------------------


def test_rated_from_is_the_first_whole_hour_at_or_after_an_instant() -> None:
    assert rated_from(utc(2026, 1, 16, 10, 20)) == utc(2026, 1, 16, 11)
    assert rated_from(utc(2026, 1, 16, 10)) == utc(2026, 1, 16, 10)
    assert bucket_start(utc(2026, 1, 16, 10, 59, 59)) == utc(2026, 1, 16, 10)
    assert on_the_hour(utc(2026, 1, 16, 10))
    assert not on_the_hour(utc(2026, 1, 16, 10, 0, 1))
    assert timedelta(hours=1) == METERING_RESOLUTION


def test_fold_events_gives_one_state_per_customer_metric_hour_and_group() -> None:
    total = metric(Aggregation.SUM, group_keys=("user_id",))
    count = BillableMetric("n", "Calls", "tokens", Aggregation.COUNT)
    events = [
        event("a", tokens="5", user_id="ann"),
        event("b", tokens="7", user_id="ann"),
        event("c", tokens="abc", user_id="ann"),
        event("a", tokens="99", user_id="ann"),
        event("d", customer="c2", tokens="1", user_id="bob"),
    ]
    folded = fold_events((total, count), events)
    noon = utc(2026, 1, 1, 12)
    # c1's noon hour: ann's 5 + 7 (abc is rejected, the second "a" is a duplicate); 3 calls (a, b, c).
    assert dict(folded.states) == {
        ("c1", "m", noon, ("ann",)): SumState(Decimal(12)),
        ("c1", "n", noon, ()): CountState(3),
        ("c2", "m", noon, ("bob",)): SumState(Decimal(1)),
        ("c2", "n", noon, ()): CountState(1),
    }
    assert ([r.transaction_id for r in folded.rejected], folded.duplicates) == (["c"], ("a",))
    assert folded.buckets("c2") == {"m": {(noon, ("bob",)): SumState(Decimal(1))}, "n": {(noon, ()): CountState(1)}}


def test_aggregate_buckets_matches_aggregating_the_raw_events() -> None:
    latest = metric(Aggregation.LATEST, group_keys=("user_id",))
    events = [event(f"t{day}", day, tokens=str(day), user_id="ann" if day % 2 else "bob") for day in range(1, 29)]
    windows = JAN.split_at([utc(2026, 1, 10, 13), utc(2026, 1, 20, 7)])
    buckets = fold_events((latest,), events).buckets("c1")["m"]
    assert aggregate_buckets(latest, buckets, windows).states == aggregate(latest, events, windows).states
    assert BucketedUsage({"m": buckets}).aggregate((latest,), windows)["m"].states == (
        RawUsage(tuple(events)).aggregate((latest,), windows)["m"].states
    )


def test_aggregate_buckets_needs_windows_on_whole_hours() -> None:
    with pytest.raises(InvalidWindows, match="does not start and end on whole hours"):
        aggregate_buckets(metric(Aggregation.SUM), {}, JAN.split_at([utc(2026, 1, 10, 13, 30)]))


def test_buckets_outside_the_windows_are_not_counted() -> None:
    buckets = {(utc(2025, 12, 31, 23), ()): SumState(Decimal(5)), (utc(2026, 1, 3), ()): SumState(Decimal(2))}
    assert aggregate_buckets(metric(Aggregation.SUM), buckets, ONE_WINDOW).states == {(0, ()): SumState(Decimal(2))}


# --- whole-number sums and usage kept per draft -------------------------------------------------


def test_whole_number_sums_match_decimal_sums_and_a_bad_value_is_still_rejected() -> None:
    whole = [event("a", tokens="12"), event("b", tokens="007"), event("c", tokens="999999999999999999")]
    mixed = [*whole, event("d", tokens="0.5"), event("e", tokens="lots")]
    sums = aggregate(metric(Aggregation.SUM), whole, ONE_WINDOW)
    assert only_state(sums.states) == SumState(Decimal("1000000000000000018"))
    with_decimals = aggregate(metric(Aggregation.SUM), mixed, ONE_WINDOW)
    # A value that is not a plain whole number takes the general path: added as a Decimal, or rejected.
    assert only_state(with_decimals.states) == SumState(Decimal("1000000000000000018.5"))
    assert [r.transaction_id for r in with_decimals.rejected] == ["e"]


def test_aggregated_usage_answers_for_its_own_windows_and_metrics_only() -> None:
    tokens, peak = metric(Aggregation.SUM), BillableMetric("peak", "Peak", "tokens", Aggregation.MAX, "tokens")
    events = (event("a", 3, tokens="5"), event("b", 20, tokens="7"))
    kept = AggregatedUsage.of(RawUsage(events), (tokens,), HALVES)
    # Asked again for the same windows, it gives what aggregating the events gives, without the events.
    assert kept.aggregate((tokens,), list(HALVES)) == aggregate_many((tokens,), events, HALVES)
    with pytest.raises(InvalidWindows, match="aggregate its rollups again"):
        kept.aggregate((tokens,), ONE_WINDOW)
    with pytest.raises(InvalidWindows, match="aggregate its rollups again"):
        kept.aggregate((tokens, peak), HALVES)
