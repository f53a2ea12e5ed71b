"""Rollup states as stored text, and their merge inside SQLite's upsert: the same as merging the states."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from portal.db.codecs import state_from_doc, state_to_doc
from portal.db.usage_store import merged_state_text, state_text
from portal.domain.metrics import (
    AggregationState,
    CountState,
    LatestState,
    MaxState,
    SumState,
    UniqueState,
    merge,
)

decimals = st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=6)
instants = st.integers(0, 10**6).map(lambda s: datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=s))
KINDS = {
    "count": st.integers(0, 10**12).map(CountState),
    "sum": decimals.map(SumState),
    "max": decimals.map(MaxState),
    "latest": st.builds(LatestState, instants, st.text("abc", min_size=1, max_size=3), decimals),
    "unique": st.frozensets(st.text('xyz\u00e9"\\', max_size=4), max_size=5).map(UniqueState),
}
Pair = tuple[AggregationState, AggregationState]
pairs = st.sampled_from(sorted(KINDS)).flatmap(lambda kind: st.tuples(KINDS[kind], KINDS[kind]))


def _state(text: str) -> AggregationState:
    return state_from_doc(json.loads(text))


@given(pairs)
def test_merging_stored_texts_gives_the_text_of_the_merged_states(pair: Pair) -> None:
    stored, delta = pair
    merged = merged_state_text(state_text(stored), state_text(delta))
    assert _state(merged) == merge(stored, delta)
    assert merged == state_text(merge(stored, delta))


@given(pairs)
def test_a_state_reads_back_from_its_text(pair: Pair) -> None:
    state, _ = pair
    assert _state(state_text(state)) == state
    assert json.loads(state_text(state)) == state_to_doc(state)  # the document every reader of rollups expects


def test_sums_merge_exactly_and_text_written_by_other_encoders_is_read_too() -> None:
    assert merged_state_text('{"sum":"0.1"}', '{"sum":"0.2"}') == '{"sum":"0.3"}'  # never 0.30000000000000004
    assert merged_state_text('{"sum":"1E+3"}', '{"sum":"-0.001"}') == '{"sum":"999.999"}'
    assert merged_state_text('{"sum": "2.5"}', '{"sum":"1"}') == '{"sum":"3.5"}'  # json.dumps' default spacing
    assert merged_state_text('{"count": 2}', '{"count":40}') == '{"count":42}'
    assert _state(merged_state_text('{"max":"7"}', '{"max":"7.5"}')) == MaxState(Decimal("7.5"))
