"""Fuzzing the ingest parser: whatever bytes or JSON a client sends, the functions ``POST /api/v1/ingest`` runs
(:func:`portal.api.ingest.decode_body`, then :func:`portal.services.ingest.parse_events`) either accept an
event, refuse one event with a reason naming what was wrong, or refuse the request with :class:`InvalidInput`
(:class:`TooLarge` for a size limit), and never raise anything else."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from portal.api.ingest import MAX_BODY_BYTES, decode_body
from portal.services.errors import InvalidInput, TooLarge
from portal.services.ingest import (
    BACKFILL_WINDOW,
    FUTURE_TOLERANCE,
    MAX_EVENTS_PER_REQUEST,
    MAX_PROPERTIES,
    MAX_TEXT,
    MAX_VALUE_TEXT,
    REJECTED,
    EventResult,
    parse_events,
)
from portal.services.text import unstorable
from tests.support.ingest_inputs import NOW, json_values, near_valid_events, valid_event


def _check_outcome(outcome: Any, index: int) -> None:
    """An outcome is an accepted event that obeys every rule, or a refusal with a reason."""
    if isinstance(outcome, EventResult):
        assert outcome.index == index
        assert outcome.status == REJECTED
        assert outcome.reason
        return
    event = outcome.event
    assert outcome.index == index
    for text in (event.transaction_id, event.customer_id, event.event_type):
        assert isinstance(text, str)
        assert 0 < len(text) <= MAX_TEXT
        assert text.strip()
        assert unstorable(text) is None
    assert event.timestamp.tzinfo is not None
    assert NOW - BACKFILL_WINDOW <= event.timestamp <= NOW + FUTURE_TOLERANCE
    assert len(event.properties) <= MAX_PROPERTIES
    for key, value in event.properties.items():
        assert isinstance(value, str)
        assert len(key) <= MAX_TEXT
        assert len(value) <= MAX_VALUE_TEXT
        assert unstorable(key) is None
        assert unstorable(value) is None


def _or_refusal(function: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    """What ``function(*args)`` returns, or the message of the :class:`InvalidInput` it raised (the one exception
    allowed; any other fails the test)."""
    try:
        return function(*args), None
    except InvalidInput as refusal:
        return None, str(refusal)


def _parse_or_refuse(payload: Any) -> list[Any] | None:
    """The parser's outcomes, or None when it refused the whole request."""
    outcomes, reason = _or_refusal(parse_events, payload, NOW)
    if reason is not None:
        assert reason
        return None
    assert 1 <= len(outcomes) <= MAX_EVENTS_PER_REQUEST
    for index, outcome in enumerate(outcomes):
        _check_outcome(outcome, index)
    return outcomes


@settings(max_examples=300)
@given(st.binary(max_size=300), st.sampled_from(["", "gzip", "GZIP ", "identity", "br"]))
@example(b"[" * 100_000, "")
@example(b"1" * 5000, "")
@example(b'"\\ud800"', "")
@example(b"\xff\xfe", "")
@example(gzip.compress(b'[{"a": 1}]')[:-5], "gzip")
@example(gzip.compress(b"[]") + b"garbage", "gzip")
def test_any_bytes_decode_to_json_or_a_clear_refusal(body: bytes, encoding: str) -> None:
    payload, reason = _or_refusal(decode_body, body, encoding)
    if reason is None:
        _parse_or_refuse(payload)
    else:
        assert reason


@settings(max_examples=300)
@given(json_values | st.lists(json_values, min_size=1, max_size=5) | st.fixed_dictionaries({"events": json_values}))
def test_any_json_value_is_parsed_or_refused_whole(payload: Any) -> None:
    _parse_or_refuse(payload)


@settings(max_examples=400)
@given(near_valid_events())
@example((dict(valid_event(), timestamp="0001-01-01T00:00:00+14:00"), "timestamp"))
@example((dict(valid_event(), properties={"tokens": "1\x00"}), "properties"))
@example((dict(valid_event(), transaction_id="\ud800"), "transaction_id"))
@example((dict(valid_event(), customer_id=10**400), "customer_id"))
def test_a_near_valid_event_is_accepted_or_refused_naming_its_field(changed: tuple[dict[str, Any], str]) -> None:
    event, field = changed
    outcomes = _parse_or_refuse([valid_event(1), event])
    assert outcomes is not None
    assert not isinstance(outcomes[0], EventResult)
    refusal = outcomes[1]
    if isinstance(refusal, EventResult):
        named = "propert" if field == "properties" else field
        assert named in refusal.reason


@settings(max_examples=100)
@given(st.lists(st.builds(valid_event, st.integers(0, 10**6)), min_size=1, max_size=MAX_EVENTS_PER_REQUEST))
def test_a_valid_batch_survives_json_and_gzip_unchanged(events: list[dict[str, Any]]) -> None:
    body = gzip.compress(json.dumps({"events": events}).encode())
    outcomes = _parse_or_refuse(decode_body(body, "gzip"))
    assert outcomes is not None
    assert [o.event.transaction_id for o in outcomes] == [e["transaction_id"] for e in events]


def test_more_than_100_events_are_refused_whole_naming_the_limit() -> None:
    with pytest.raises(InvalidInput, match="101 events: send at most 100"):
        parse_events([valid_event(n) for n in range(101)], NOW)


def test_too_many_or_too_long_properties_are_refused_naming_the_limit() -> None:
    many = dict(valid_event(), properties={f"p{n}": "1" for n in range(MAX_PROPERTIES + 1)})
    long_value = dict(valid_event(1), properties={"tokens": "1" * (MAX_VALUE_TEXT + 1)})
    long_name = dict(valid_event(2), properties={"t" * (MAX_TEXT + 1): "1"})
    reasons = [r.reason for r in parse_events([many, long_value, long_name], NOW) if isinstance(r, EventResult)]
    assert reasons[0] == f"properties has more than {MAX_PROPERTIES} entries"
    assert all(f"values up to {MAX_VALUE_TEXT} characters" in reason for reason in reasons[1:])


def _gzip_bomb(inflated_mib: int) -> bytes:
    """Gzip data of about ``inflated_mib`` MiB of zeros (about a thousandth of that compressed)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    return b"".join([*(packer.compress(zeros) for _ in range(inflated_mib)), packer.flush()])


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = _gzip_bomb(128)
    assert len(bomb) < MAX_BODY_BYTES // 20
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="decompressed body is larger than the 5 MiB limit"):
            decode_body(bomb, "gzip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_BODY_BYTES  # inflating it all would take 128 MiB


def test_a_body_of_exactly_the_limit_decompressed_is_read() -> None:
    padded = b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]"
    assert decode_body(gzip.compress(padded), "gzip") == []
    with pytest.raises(TooLarge):
        decode_body(gzip.compress(padded + b" "), "gzip")


def test_several_gzip_members_are_one_body() -> None:
    assert decode_body(gzip.compress(b"[1,") + gzip.compress(b"2]"), "gzip") == [1, 2]
