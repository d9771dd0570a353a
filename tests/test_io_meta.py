"""Scene metadata (hsrcli/io/meta.py): the one rule of what a missing value is."""

from __future__ import annotations

import numpy as np
import pytest

from hsrcli.io.meta import SceneMeta


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_missing_values_are_the_stored_nodata_and_every_non_finite_value(dtype):
    """A float scene's nodata compares as stored (0.1 is not exactly 0.1 in float32), and NaN and ±inf are
    missing whether or not the scene has a nodata value."""
    block = np.array([[0.1, np.nan, np.inf], [-np.inf, 2.0, 0.1]], dtype=dtype)
    expected = [[True, True, True], [True, False, True]]
    assert SceneMeta(2, 3, 1, np.dtype(dtype), nodata=0.1).missing_mask(block).tolist() == expected
    expected_without = [[False, True, True], [True, False, False]]
    assert SceneMeta(2, 3, 1, np.dtype(dtype)).missing_mask(block).tolist() == expected_without


def test_an_integer_scene_misses_only_its_nodata_value():
    block = np.array([[-9, 0], [7, -9]], dtype=np.int16)
    assert SceneMeta(2, 2, 1, np.dtype(np.int16), nodata=-9).missing_mask(block).tolist() == [[True, False],
                                                                                             [False, True]]
    assert not SceneMeta(2, 2, 1, np.dtype(np.int16)).missing_mask(block).any()
    # a nodata value the type cannot hold matches nothing rather than a wrapped-around value
    assert not SceneMeta(2, 2, 1, np.dtype(np.uint8), nodata=-1.5).missing_mask(block.astype(np.uint8) * 0).any()
