"""
Captioned colour images in one row: the README's picture of the renderers beside a real frame.

    python -m training.synth.side_by_side --out ROW.png --panel CAPTION IMAGE [--panel ...]

Each image is resized (area interpolation) to the panel size, default 320 x 240 pixels, and
captioned in white on a dark band along its top; the panels are joined left to right in the
order given and written as one PNG (scripts/renderers_side_by_side makes
docs/renderers_side_by_side.png).
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

from rgbd_perception.io.images import read_rgb, write_rgb

BAND_ROWS = 22  # caption band height, pixels


def captioned(rgb, caption, width, height):
    """Return (height, width, 3) uint8 RGB: ``rgb`` resized, ``caption`` on a band at the top."""
    panel = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    panel[:BAND_ROWS] = (panel[:BAND_ROWS] * 0.35).astype(np.uint8)
    cv2.putText(panel, caption, (6, BAND_ROWS - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def side_by_side(panels, width=320, height=240):
    """Return the (height, width * N, 3) uint8 row of N (caption, (H, W, 3) uint8) panels."""
    return np.concatenate([captioned(rgb, caption, width, height)
                           for caption, rgb in panels], axis=1)


def main(argv=None):
    """Write the row of the command line's --panel CAPTION IMAGE pairs to --out."""
    parser = argparse.ArgumentParser(prog='python -m training.synth.side_by_side',
                                     description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--out', type=Path, required=True, help='PNG to write')
    parser.add_argument('--panel', nargs=2, action='append', required=True,
                        metavar=('CAPTION', 'IMAGE'), help='a caption and its colour image')
    parser.add_argument('--size', default='320x240', help='panel WxH in pixels')
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split('x'))
    row = side_by_side([(caption, read_rgb(image)) for caption, image in args.panel],
                       width, height)
    write_rgb(args.out, row)
    print(f'wrote {args.out} ({row.shape[1]}x{row.shape[0]}, '
          f'{args.out.stat().st_size // 1024} KiB)')


if __name__ == '__main__':
    main()
