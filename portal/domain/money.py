"""Money, currencies, credit types, the rounding policy and exact splits.

Rules (see ``portal/domain/README.md``):

* Amounts are :class:`decimal.Decimal`, never float.
* Rating runs at full precision; an amount is rounded **once**, when it
  becomes an invoice line, to the currency's minor unit (USD cents, JPY yen)
  with :data:`ROUNDING` (half up: 0.005 USD becomes 0.01 USD, -0.005 becomes
  -0.01). Totals are sums of rounded lines.
* Settled amounts are stored as integer minor units plus the ISO code
  (:meth:`Money.minor_units`).
* A split (proration, allocation across seats or departments) uses
  :func:`allocate`, which never creates or loses a minor unit.
* A custom credit unit ("AI credits") is a :class:`CreditType` priced in a
  currency; a fiat credit type is the currency itself at a price of 1.
* Sums of grants, seats, ledgers and invoice figures run inside
  :func:`exact_arithmetic`: up to :data:`EXACT_DIGITS` significant digits,
  and an operation that would need more is refused instead of rounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    localcontext,
)
from math import lcm
from types import TracebackType

from portal.domain.errors import CurrencyMismatch, InvalidAllocation, InvalidAmount, UnknownCurrency

ROUNDING = ROUND_HALF_UP
"""The one rounding mode used wherever an amount is rounded to a minor unit."""

ZERO = Decimal(0)

EXACT_DIGITS = 100
"""Significant digits available to exact grant, seat, ledger and invoice arithmetic."""

_EXACT_CONTEXT = Context(prec=EXACT_DIGITS, traps=[Inexact])

_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(-4, 19)}
"""``10^-places`` for the decimal places amounts are usually rounded to (computed once)."""


def quantum(places: int) -> Decimal:
    """The step of an amount rounded to ``places`` decimal places: ``Decimal('0.01')`` for 2."""
    step = _QUANTA.get(places)
    return Decimal(1).scaleb(-places) if step is None else step


def exact_arithmetic() -> AbstractContextManager[None]:
    """Run Decimal arithmetic without silent rounding.

    Inside the block, additions, subtractions and multiplications keep up to
    :data:`EXACT_DIGITS` significant digits; an operation whose exact result
    would need more raises :class:`InvalidAmount` instead of rounding. This is
    what lets burn-down promise that a charge equals its deductions plus its
    overage to the last digit.
    """
    return _ExactArithmetic()


class _ExactArithmetic(AbstractContextManager[None]):
    """The block of :func:`exact_arithmetic` (a class rather than a generator: it is entered on every invoice line)."""

    __slots__ = ("_local",)

    def __init__(self) -> None:
        self._local = localcontext(_EXACT_CONTEXT)

    def __enter__(self) -> None:
        self._local.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._local.__exit__(kind, error, traceback)
        if kind is not None and issubclass(kind, Inexact):
            raise InvalidAmount(
                f"These amounts differ so much in size that their sum needs more than {EXACT_DIGITS} digits: "
                "round charges, prices and grant amounts to a sensible number of decimal places."
            ) from None


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency with its minor-unit exponent (USD 2, JPY 0, BHD 3)."""

    code: str
    exponent: int
    symbol: str = ""

    @property
    def quantum(self) -> Decimal:
        """The smallest settled amount: ``Decimal('0.01')`` for USD, ``Decimal('1')`` for JPY."""
        return quantum(self.exponent)

    def round(self, amount: Decimal) -> Decimal:
        """Round ``amount`` to this currency's minor unit with :data:`ROUNDING`."""
        return amount.quantize(quantum(self.exponent), rounding=ROUNDING)

    def minor_units(self, amount: Decimal) -> int:
        """``amount`` rounded to this currency's minor unit, as an integer count of minor units (cents)."""
        return int(amount.quantize(quantum(self.exponent), rounding=ROUNDING).scaleb(self.exponent))

    def __str__(self) -> str:
        return self.code


_KNOWN = (
    Currency("USD", 2, "$"),
    Currency("EUR", 2, "€"),
    Currency("GBP", 2, "£"),
    Currency("CAD", 2, "CA$"),
    Currency("AUD", 2, "A$"),
    Currency("CHF", 2, "CHF "),
    Currency("INR", 2, "₹"),
    Currency("SEK", 2, "SEK "),
    Currency("JPY", 0, "¥"),
    Currency("KRW", 0, "₩"),
    Currency("BHD", 3, "BHD "),
    Currency("KWD", 3, "KWD "),
)
CURRENCIES: dict[str, Currency] = {c.code: c for c in _KNOWN}
"""Currencies the portal settles in, by ISO code."""


def currency(code: str) -> Currency:
    """Return the :class:`Currency` for an ISO code such as ``"USD"`` (case-insensitive)."""
    try:
        return CURRENCIES[code.upper()]
    except (KeyError, AttributeError):
        known = ", ".join(sorted(CURRENCIES))
        raise UnknownCurrency(f"Unknown currency {code!r}: use one of {known}.") from None


def to_decimal(value: object, what: str = "amount") -> Decimal:
    """Parse ``value`` (a Decimal, int or numeric string) into a finite Decimal.

    Floats are refused: they cannot represent most prices exactly.
    ``what`` names the value in the error message.
    """
    if isinstance(value, (bool, float)):
        raise InvalidAmount(f"The {what} must be a decimal string or integer, not {type(value).__name__} {value!r}.")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise InvalidAmount(f"The {what} {value!r} is not a number.") from None
    else:
        raise InvalidAmount(f"The {what} must be a decimal string or integer, not {type(value).__name__}.")
    if not result.is_finite():
        raise InvalidAmount(f"The {what} {value!r} is not a finite number.")
    return result


MAX_AMOUNT = Decimal("1E+15")
"""The largest size of a price, fee, factor, quantity or amount given as input (a quadrillion; the same bound either
side of zero): anything larger is a typo or an attack, and its minor units would not fit a stored integer."""
MAX_PLACES = 18
"""The most decimal places of such an input (a millionth of a millionth of a millionth; trailing zeros aside)."""
_SHOWN_DIGITS = 40
"""A refused number longer than this is shown in scientific notation in the error."""


def bounded_decimal(value: object, what: str = "amount", limit: Decimal = MAX_AMOUNT) -> Decimal:
    """:func:`to_decimal`, refusing (:class:`InvalidAmount` naming ``what`` and the limit) a number beyond ``limit``
    either side of zero or with more than :data:`MAX_PLACES` decimal places: every number a person or a client
    sends that is stored or priced goes through here."""
    result = to_decimal(value, what)
    text = str(result)
    if abs(result) > limit:
        shown = text if len(text) <= _SHOWN_DIGITS else f"{result:.6E}"
        side = f"too large: at most {limit:,f}" if result > 0 else f"too small: at least {-limit:,f}"
        raise InvalidAmount(f"The {what} {shown} is {side}.")
    _, digits, exponent = result.as_tuple()
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if isinstance(exponent, int) and -exponent - trailing_zeros > MAX_PLACES:
        shown = text if len(text) <= _SHOWN_DIGITS else f"{text[:_SHOWN_DIGITS]}…"
        raise InvalidAmount(f"The {what} {shown} has too many decimal places: at most {MAX_PLACES}.")
    return result


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of a currency, at full precision until :meth:`rounded`."""

    amount: Decimal
    currency: Currency

    @classmethod
    def of(cls, amount: object, code: str | Currency) -> Money:
        """Build from a decimal string or int and a currency code: ``Money.of("9.99", "USD")``."""
        cur = code if isinstance(code, Currency) else currency(code)
        return cls(to_decimal(amount), cur)

    @classmethod
    def zero(cls, code: str | Currency) -> Money:
        """Zero in the given currency."""
        return cls.of(0, code)

    @classmethod
    def from_minor(cls, minor_units: int, code: str | Currency) -> Money:
        """Build from stored integer minor units: ``Money.from_minor(999, "USD")`` is $9.99."""
        cur = code if isinstance(code, Currency) else currency(code)
        return cls(Decimal(minor_units).scaleb(-cur.exponent), cur)

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"Cannot combine {self.currency.code} and {other.currency.code} amounts; convert one first."
            )

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise InvalidAmount("Multiply money by a Decimal or int, never a float.")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.amount <= other.amount

    def rounded(self) -> Money:
        """This amount rounded to the currency's minor unit with :data:`ROUNDING`."""
        return Money(self.currency.round(self.amount), self.currency)

    def minor_units(self) -> int:
        """The rounded amount as an integer count of minor units (cents), for storage."""
        return self.currency.minor_units(self.amount)

    @property
    def is_zero(self) -> bool:
        """True when the amount is exactly zero."""
        return self.amount == 0

    def format(self) -> str:
        """Human-readable rounded amount with symbol and thousands separators: ``$1,234.50``."""
        rounded = self.currency.round(self.amount)
        sign = "-" if rounded < 0 else ""
        body = f"{abs(rounded):,.{self.currency.exponent}f}"
        symbol = self.currency.symbol or f"{self.currency.code} "
        return f"{sign}{symbol}{body}"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True, slots=True)
class CreditType:
    """The unit a balance is kept in: a currency, or a custom unit priced in one.

    ``unit_price`` is the price of one unit in ``currency`` (1 for a fiat
    credit type). ``exponent`` is the number of decimal places balances of
    this unit are shown and settled with.
    """

    id: str
    name: str
    currency: Currency
    unit_price: Decimal = Decimal(1)
    exponent: int | None = None

    def __post_init__(self) -> None:
        if self.unit_price <= 0:
            raise InvalidAmount(f"The price of one {self.name} must be positive, not {self.unit_price}.")

    @property
    def is_fiat(self) -> bool:
        """True when this credit type is the currency itself."""
        return self.id == self.currency.code

    @property
    def places(self) -> int:
        """Decimal places for showing and settling amounts of this unit."""
        return self.currency.exponent if self.exponent is None else self.exponent

    def to_money(self, units: Decimal) -> Money:
        """The value of ``units`` of this credit type in its currency, unrounded."""
        return Money(units * self.unit_price, self.currency)

    def round(self, units: Decimal) -> Decimal:
        """Round ``units`` to this credit type's places with :data:`ROUNDING`."""
        return units.quantize(quantum(self.places), rounding=ROUNDING)

    def format(self, units: Decimal) -> str:
        """Human-readable amount: ``$12.50`` for fiat, ``1,250 AI credits`` for a custom unit."""
        if self.is_fiat:
            return Money(units, self.currency).format()
        return f"{self.round(units):,.{self.places}f} {self.name}"


def fiat(code: str | Currency) -> CreditType:
    """The credit type that is the currency itself (balances kept in dollars, yen, ...)."""
    cur = code if isinstance(code, Currency) else currency(code)
    return CreditType(id=cur.code, name=cur.code, currency=cur)


def custom_credit(credit_id: str, name: str, code: str | Currency, unit_price: object, places: int = 0) -> CreditType:
    """A custom credit unit, e.g. ``custom_credit("ai", "AI credits", "USD", "0.01")``."""
    cur = code if isinstance(code, Currency) else currency(code)
    return CreditType(
        id=credit_id, name=name, currency=cur, unit_price=to_decimal(unit_price, "credit price"), exponent=places
    )


def allocate(total: Decimal, weights: Sequence[Decimal | int], quantum: Decimal) -> tuple[Decimal, ...]:
    """Split ``total`` into parts proportional to ``weights``, each a multiple of ``quantum``.

    The parts always sum exactly to ``total`` (which must itself be a multiple
    of ``quantum``). Uses the largest-remainder method: every part first gets
    its proportional share rounded toward zero, then the leftover quanta go
    one each to the parts with the largest remainders, earlier parts first
    on ties. Shares and remainders are computed exactly, however many digits
    the total or the weights have. Deterministic for the same input.
    """
    if not weights:
        raise InvalidAllocation("Cannot split an amount into zero parts.")
    ws = [w if isinstance(w, Decimal) else Decimal(w) for w in weights]
    if any(w < 0 for w in ws):
        raise InvalidAllocation("Split weights must not be negative.")
    if not any(ws):
        raise InvalidAllocation("Split weights must not all be zero.")
    units_total = total / quantum
    if units_total != units_total.to_integral_value():
        raise InvalidAllocation(f"Cannot split {total} in steps of {quantum}: round it first.")
    sign = -1 if units_total < 0 else 1
    return tuple(Decimal(sign * f) * quantum for f in split_units(int(abs(units_total)), ws))


def split_units(units: int, weights: Sequence[Decimal]) -> list[int]:
    """:func:`allocate` in whole units: ``units`` split in proportion to ``weights`` (finite, at least zero, not all 0).

    Every part gets ``units × weight / sum of weights`` rounded down, then the
    leftover units go one each to the largest remainders, earlier parts first
    on ties; all of it computed exactly, in integers (the weights brought to
    one common denominator, which scales every remainder alike).
    """
    ratios = [w.as_integer_ratio() for w in weights]
    denominator = 1
    for _, d in ratios:
        if d != 1:
            denominator = lcm(denominator, d)
    scaled = [n for n, _ in ratios] if denominator == 1 else [n * (denominator // d) for n, d in ratios]
    weight_sum = sum(scaled)
    shares = [divmod(units * w, weight_sum) for w in scaled]
    floors = [floor for floor, _ in shares]
    leftover = units - sum(floors)
    if leftover:
        remainders = [remainder for _, remainder in shares]
        # Sorting is stable, also in reverse: among equal remainders the earlier part comes first.
        for i in sorted(range(len(shares)), key=remainders.__getitem__, reverse=True)[:leftover]:
            floors[i] += 1
    return floors
