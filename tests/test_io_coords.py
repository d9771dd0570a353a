"""``hsrcli.io.coords``: one parser for typed pixel coordinates."""

from __future__ import annotations

import pytest

from hsrcli.errors import HsrInputError
from hsrcli.io.coords import parse_ints


def test_parse_ints():
    assert parse_ints("3,4", "ROW,COL", "--pixel") == (3, 4)
    assert parse_ints(" 1, 2,30,40", "ROW0,COL0,ROW1,COL1", "--crop") == (1, 2, 30, 40)


@pytest.mark.parametrize("spec", ["3", "3,4,5", "a,b", "", "3.5,4"])
def test_bad_coordinates_name_the_option_and_the_form(spec):
    with pytest.raises(HsrInputError, match=r"bad --pixel .* \(use ROW,COL, 0-based\)"):
        parse_ints(spec, "ROW,COL", "--pixel")
