"""The one metres <-> REP 118 millimetres conversion and the depth image files it feeds."""

import numpy as np
import pytest

from rgbd_perception.io.images import (DatasetLayoutError, read_depth, read_mask, to_depth_metres,
                                       to_depth_mm, write_depth_png)


def test_metres_become_rounded_millimetres_and_unholdable_values_missing():
    """Halves round to even; <= 0, NaN, inf and > 65.535 m become 0 (missing), never clipped."""
    metres = np.array([[1.2344, 1.2346, 0.0004, 0.0015, 65.535, 65.536],
                       [-0.2, np.nan, np.inf, 0.0, 3.0, 100.0]])
    np.testing.assert_array_equal(to_depth_mm(metres), [[1234, 1235, 0, 2, 65535, 0],
                                                        [0, 0, 0, 0, 3000, 0]])
    assert to_depth_mm(metres).dtype == np.uint16


def test_other_units_and_the_way_back():
    """BOP units of 0.1 mm become mm; mm become float32 metres exactly as value * 0.001."""
    units = np.array([[12344, 12356, 0]], dtype=np.uint16)
    np.testing.assert_array_equal(to_depth_mm(units, mm_per_unit=0.1), [[1234, 1236, 0]])
    millimetres = np.array([[1, 1234, 65535, 0]], dtype=np.uint16)
    metres = to_depth_metres(millimetres)
    assert metres.dtype == np.float32
    np.testing.assert_array_equal(metres, (millimetres * 0.001).astype(np.float32))
    np.testing.assert_array_equal(to_depth_mm(metres), millimetres)
    single = np.random.default_rng(0).uniform(0.2, 9.0, (50, 50)).astype(np.float32)
    np.testing.assert_array_equal(to_depth_mm(single),  # a float32 product, as NumPy forms it
                                  np.round(single * 1000.0).astype(np.uint16))


def test_a_png_round_trip_and_missing_files(tmp_path):
    """A written REP 118 PNG reads back unchanged; a missing mask is a layout error."""
    depth = to_depth_mm(np.array([[0.5, 1.25], [0.0, 9.0]]))
    write_depth_png(tmp_path / 'd.png', depth)
    np.testing.assert_array_equal(read_depth(tmp_path / 'd.png'), depth)
    with pytest.raises(DatasetLayoutError, match='m.png'):
        read_mask(tmp_path / 'm.png')
