"""Price-change simulation: replay closed periods of real usage under the current and the proposed terms.

A simulation takes a family of contracts as it is (``current``) and the same
family with some contracts on proposed terms (``proposed``: a new package
version, or a rate card with a price change), and drafts each of the given
closed periods twice, in order, from the same usage and the same opening
ledger. Each scenario carries its own ledger from one period to the next (a
commit drawn more under one scenario has less left in the next period under
that scenario), so the figures are what the customer would have been billed.

Per contract it reports:

* what its lines were billed, in minor units of the contract's currency, in
  total over the periods (lines of a child billed to its parent count for
  the child);
* how much of the credits its package grants every period (grants of source
  ``PACKAGE_RECURRENCE``: seat credits and included credits) its usage
  burned, in their unit;
* whether it ran out: some charge found grants that applied and had too
  little left, so overage was billed (or blocked).

Everything is exact (Decimal and integer minor units); nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from portal.domain.contracts import Contract
from portal.domain.errors import DomainError
from portal.domain.grants import GrantSource
from portal.domain.hierarchy import NO_HIERARCHY, Hierarchy
from portal.domain.invoicing import InvoiceRun, draft_invoices
from portal.domain.ledger import LedgerEntry
from portal.domain.metrics import UsageSource
from portal.domain.money import ZERO
from portal.domain.periods import Period


class InvalidSimulation(DomainError):
    """The simulation's inputs do not fit together (named in the message)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One contract's figures under one scenario, over all simulated periods."""

    billed_minor: int
    seat_credits_burned: Decimal
    ran_out: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    """One contract under the current and the proposed terms."""

    contract_id: str
    customer_id: str
    periods: int
    current: Outcome
    proposed: Outcome

    @property
    def difference_minor(self) -> int:
        """What the proposed terms bill more (negative: less), in minor units."""
        return self.proposed.billed_minor - self.current.billed_minor

    @property
    def burn_change(self) -> Decimal:
        """How many more seat credits the proposed terms burn (negative: fewer)."""
        return self.proposed.seat_credits_burned - self.current.seat_credits_burned

    @property
    def newly_runs_out(self) -> bool:
        """True when the contract runs out of credits under the proposed terms but not under the current ones."""
        return self.proposed.ran_out and not self.current.ran_out


@dataclass(frozen=True, slots=True)
class Totals:
    """The whole simulation in a few figures: revenue change and who pays more, less or the same."""

    current_minor: int
    proposed_minor: int
    paying_more: int
    paying_less: int
    paying_same: int
    newly_running_out: int

    @property
    def difference_minor(self) -> int:
        """The revenue change, in minor units (negative: less revenue)."""
        return self.proposed_minor - self.current_minor


def totals(comparisons: Sequence[Comparison]) -> Totals:
    """Sum comparisons (of one currency) into :class:`Totals`."""
    return Totals(
        current_minor=sum(c.current.billed_minor for c in comparisons),
        proposed_minor=sum(c.proposed.billed_minor for c in comparisons),
        paying_more=sum(1 for c in comparisons if c.difference_minor > 0),
        paying_less=sum(1 for c in comparisons if c.difference_minor < 0),
        paying_same=sum(1 for c in comparisons if c.difference_minor == 0),
        newly_running_out=sum(1 for c in comparisons if c.newly_runs_out),
    )


class _Tally:
    """A contract's running figures under one scenario."""

    __slots__ = ("billed", "burned", "ran_out")

    def __init__(self) -> None:
        self.billed = 0
        self.burned = ZERO
        self.ran_out = False

    def outcome(self) -> Outcome:
        return Outcome(self.billed, self.burned, self.ran_out)


def _replay(
    contracts: Sequence[Contract],
    hierarchy: Hierarchy,
    opening: tuple[LedgerEntry, ...],
    periods: Sequence[Period],
    usage: Sequence[Mapping[str, UsageSource]],
    watched: Sequence[str],
) -> dict[str, Outcome]:
    """Draft ``periods`` in order for one scenario, carrying its ledger; the watched contracts' outcomes."""
    tallies = {contract_id: _Tally() for contract_id in watched}
    ledger = opening
    for period, period_usage in zip(periods, usage, strict=True):
        if not any(c.active_in(period) for c in contracts):
            continue
        run = draft_invoices(contracts, period, period_usage, as_of=period.end, hierarchy=hierarchy, ledger=ledger)
        _tally(run, tallies)
        ledger = (*ledger, *run.ledger_entries)
    return {contract_id: tally.outcome() for contract_id, tally in tallies.items()}


def _tally(run: InvoiceRun, tallies: Mapping[str, _Tally]) -> None:
    """Add one period's draft to the watched contracts' tallies."""
    for invoice in run.invoices:
        for line in invoice.lines:
            tally = tallies.get(line.contract_id)
            if tally is not None:
                tally.billed += line.due_minor
    for drawn in run.burn_down.drawn:
        tally = tallies.get(drawn.charge.contract_id)
        if tally is None:
            continue
        for grant, amount, _ in drawn.draws:
            if grant.source is GrantSource.PACKAGE_RECURRENCE:
                tally.burned += amount
        if drawn.applicable and (drawn.overage or drawn.blocked):
            tally.ran_out = True


def compare_family(
    current: Sequence[Contract],
    proposed: Sequence[Contract],
    periods: Sequence[Period],
    usage: Sequence[Mapping[str, UsageSource]],
    *,
    changed: Sequence[str],
    hierarchy: Hierarchy = NO_HIERARCHY,
    opening: Sequence[LedgerEntry] = (),
) -> tuple[Comparison, ...]:
    """Replay ``periods`` (closed, in time order) of a family under its current and its proposed contracts.

    ``proposed`` is ``current`` with the ``changed`` contracts on new terms
    (same ids, same order). ``usage[i]`` maps a contract id to its usage in
    ``periods[i]``; ``opening`` is the recorded ledger before the first
    period. Returns a comparison for each changed contract.
    """
    if [c.id for c in current] != [c.id for c in proposed]:
        raise InvalidSimulation("The proposed family must hold the same contracts, in the same order, as the current.")
    if len(periods) != len(usage):
        raise InvalidSimulation(f"{len(periods)} periods but usage for {len(usage)}: give the usage of each period.")
    if any(later.start < earlier.end for earlier, later in pairwise(periods)):
        raise InvalidSimulation("The periods must follow each other in time order without overlapping.")
    ids = {c.id: c for c in current}
    missing = [contract_id for contract_id in changed if contract_id not in ids]
    if missing:
        raise InvalidSimulation(f"Contracts {', '.join(missing)} are not in the family.")
    before = tuple(e for e in opening if not periods or e.at < periods[0].start)
    was = _replay(current, hierarchy, before, periods, usage, changed)
    would_be = _replay(proposed, hierarchy, before, periods, usage, changed)
    return tuple(
        Comparison(
            contract_id=contract_id,
            customer_id=ids[contract_id].customer_id,
            periods=sum(1 for p in periods if ids[contract_id].active_in(p)),
            current=was[contract_id],
            proposed=would_be[contract_id],
        )
        for contract_id in changed
    )
