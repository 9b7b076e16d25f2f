"""The captioned side-by-side picture (training/synth/side_by_side.py)."""

import numpy as np

from rgbd_perception.io.images import read_rgb, write_rgb
from training.synth.side_by_side import BAND_ROWS, main, side_by_side


def test_panels_resized_joined_and_captioned():
    """Each panel is resized to the panel size, in order, with a darkened caption band."""
    grey = np.full((480, 640, 3), 200, np.uint8)
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 255
    row = side_by_side([('a', grey), ('b', red)], width=80, height=60)
    assert row.shape == (60, 160, 3) and row.dtype == np.uint8
    assert (row[BAND_ROWS:, :80] == 200).all()
    assert (row[BAND_ROWS:, 80:] == [255, 0, 0]).all()
    band = row[:BAND_ROWS, :80]
    assert (band == 255).any() and np.median(band) < 100  # white text on a dark band


def test_command_writes_the_png(tmp_path, capsys):
    """`python -m training.synth.side_by_side` writes one PNG of the panels in a row."""
    image = tmp_path / 'in.png'
    write_rgb(image, np.full((48, 64, 3), 90, np.uint8))
    out = tmp_path / 'docs' / 'row.png'
    main(['--out', str(out), '--panel', 'one', str(image), '--panel', 'two', str(image),
          '--size', '64x48'])
    assert read_rgb(out).shape == (48, 128, 3)
    assert 'row.png (128x48' in capsys.readouterr().out
