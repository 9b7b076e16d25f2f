"""
The transfer table: real-frame rotation errors of several pose weights as one Markdown table.

    python -m training.pose.transfer 'LABEL=metrics.json' ...

Each metrics file is written by ``python -m training eval-real-poses`` (training/pose/
real_eval.py); a row gives its overall median rotation error in degrees, the shares within 15
and 30 degrees, the ADD(-S)@0.1d share (box-only translation) and the per-object median
rotation errors, in the order given.
"""

import json
from pathlib import Path
import sys


def transfer_table(rows):
    """Return the Markdown table of [(label, eval-real-poses metrics dict)], one row each."""
    objects = sorted({obj_id for _, metrics in rows for obj_id in metrics['objects']}, key=int)
    lines = ['| training data | poses | median (deg) | < 15 deg | < 30 deg | ADD(-S)@0.1d | '
             + ' | '.join(f'obj {obj_id}' for obj_id in objects) + ' |',
             '|---' * (6 + len(objects)) + '|']
    for label, metrics in rows:
        overall = metrics['overall']
        medians = [f"{metrics['objects'][o]['median_deg']:.0f}" if o in metrics['objects']
                   else '' for o in objects]
        lines.append(f"| {label} | {overall['count']} | {overall['median_deg']:.1f} | "
                     f"{100 * overall['within_15_deg']:.1f} % | "
                     f"{100 * overall['within_30_deg']:.1f} % | "
                     f"{100 * overall['add_s_0.1d']:.1f} % | " + ' | '.join(medians) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    """Print the table of the command line's LABEL=metrics.json arguments."""
    pairs = [argument.split('=', 1) for argument in (sys.argv[1:] if argv is None else argv)]
    print(transfer_table([(label, json.loads(Path(path).read_text())) for label, path in pairs]))


if __name__ == '__main__':
    main()
