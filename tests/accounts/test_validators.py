import pytest
from django.core.exceptions import ValidationError

from accounts.validators import (
    format_business_number,
    is_valid_business_number,
    normalize_business_number,
    validate_business_number,
)


@pytest.mark.parametrize(
    "number",
    [
        "124-81-00998",  # 삼성전자
        "1248100998",
        " 124 81 00998 ",
        "220-81-62517",
        "000-00-00000",  # all zeros satisfies the checksum; the format alone cannot refuse it
    ],
)
def test_valid_business_numbers(number):
    assert is_valid_business_number(number)
    validate_business_number(number)


@pytest.mark.parametrize(
    "number, code",
    [
        ("124-81-00997", "business_number_checksum"),  # last digit off by one
        ("124-81-00999", "business_number_checksum"),
        ("1248100", "business_number_length"),
        ("12481009981", "business_number_length"),
        ("12a-81-00998", "business_number_length"),
        ("", "business_number_length"),
    ],
)
def test_invalid_business_numbers_say_why(number, code):
    assert not is_valid_business_number(number)
    with pytest.raises(ValidationError) as exc:
        validate_business_number(number)
    assert exc.value.code == code


def test_every_wrong_check_digit_is_refused():
    valid = "1248100998"
    wrong = [valid[:9] + str(d) for d in range(10) if str(d) != valid[9]]
    assert not any(is_valid_business_number(n) for n in wrong)


def test_normalize_and_format_keep_leading_zeros():
    assert normalize_business_number("012-34-56789") == "0123456789"
    assert format_business_number("0123456789") == "012-34-56789"
