"""VIN validation (ISO 3779 shape, check digit at position 9) and plates."""

from __future__ import annotations

import pytest

from backend.kit.errors import ErrorCode, InvalidInputError
from backend.vehicles.errors import InvalidVinError
from backend.vehicles.service import validate_plate, validate_vin, vin_check_digit

# The first is the worked example of the 49 CFR 565.15 check digit (remainder 10 → X);
# for seventeen ones the weighted sum is 89, and 89 mod 11 = 1.
VALID = ["1M8GDM9AXKP042788", "11111111111111111"]


@pytest.mark.parametrize("vin", VALID)
def test_valid_vins(vin: str) -> None:
    assert validate_vin(vin.lower()) == vin


def test_check_digit_ten_is_x() -> None:
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"


@pytest.mark.parametrize(
    ("vin", "reason"),
    [
        ("1M8GDM9A1KP042788", "check digit"),  # one character changed: the check fails
        ("1M8GDM9AXKP04278", "17 characters"),  # too short
        ("1M8GDM9AXKP0427888", "17 characters"),
        ("1M8GDM9AXKP04278O", "17 characters"),  # O is never used
        ("IM8GDM9AXKP042788", "17 characters"),  # I is never used
        ("1M8GDM9AXKP04278-", "17 characters"),
    ],
)
def test_invalid_vins_are_typed_errors(vin: str, reason: str) -> None:
    with pytest.raises(InvalidVinError) as caught:
        validate_vin(vin)
    assert caught.value.code is ErrorCode.INVALID_VIN
    assert reason in caught.value.message


def test_every_single_character_change_in_a_vin_is_caught_or_shape_refused() -> None:
    vin = VALID[0]
    alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    caught = 0
    for position in range(17):
        if position == 8:
            continue
        for replacement in alphabet:
            if replacement == vin[position]:
                continue
            changed = vin[:position] + replacement + vin[position + 1 :]
            try:
                validate_vin(changed)
            except InvalidVinError:
                caught += 1
    # Position weights are never a multiple of 11, but different characters can share a
    # transliterated value (A and J are both 1): those substitutions are invisible.
    assert caught > 0.8 * 16 * 32


@pytest.mark.parametrize(
    ("plate", "stored"), [("12가 3456", "12가3456"), ("부산 12-3456", "부산12-3456")]
)
def test_plates(plate: str, stored: str) -> None:
    assert validate_plate(plate) == stored


@pytest.mark.parametrize("plate", ["", "x", "12_34", "a" * 30, "12가3456!"])
def test_bad_plates(plate: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_plate(plate)
