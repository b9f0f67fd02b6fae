"""Korean business registration number (사업자등록번호): ten digits, the last a check digit."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def normalize_business_number(value: str) -> str:
    """'123-45-67890' or ' 1234567890 ' → '1234567890' (digits only, leading zeros kept)."""
    return re.sub(r"[\s-]", "", value or "")


def business_number_check_digit(first_nine: str) -> int:
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True))
    total += int(first_nine[8]) * 5 // 10
    return (10 - total % 10) % 10


def is_valid_business_number(value: str) -> bool:
    digits = normalize_business_number(value)
    if not re.fullmatch(r"\d{10}", digits):
        return False
    return business_number_check_digit(digits[:9]) == int(digits[9])


def format_business_number(value: str) -> str:
    digits = normalize_business_number(value)
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}" if len(digits) == 10 else value


def validate_business_number(value: str) -> None:
    digits = normalize_business_number(value)
    if not re.fullmatch(r"\d{10}", digits):
        raise ValidationError(
            _("A business registration number has 10 digits (e.g. 123-45-67891)."),
            code="business_number_length",
        )
    if not is_valid_business_number(digits):
        raise ValidationError(
            _("This business registration number's check digit is wrong; please check the number."),
            code="business_number_checksum",
        )
