"""Money rules every app shows the same way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

VAT_RATE = Decimal("0.10")


def vat_krw(supply_krw: int) -> int:
    """10% VAT in whole won, rounded half up (10,005 → 1,001; 9,999 → 1,000; 1 → 0)."""
    return int((Decimal(supply_krw) * VAT_RATE).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
