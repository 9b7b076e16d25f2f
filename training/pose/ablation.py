"""
The pose ablation table: ``python -m training.pose.ablation runs/pose-ablation/lmo``.

Reads ``<row>/eval/metrics.json`` of every row folder (written by scripts/pose_ablation) and
prints one Markdown row each: mean ADD(-S)@0.1d with the given detections without and with ICP
refinement, with the built-in detector refined, with nearest-neighbour rotations, and the mean
rotation and Euler-angle errors of the asymmetric objects (given detections, unrefined).
"""

import json
from pathlib import Path
import sys

import numpy as np

COLUMNS = (('given_unrefined', 'ADD(-S) given'), ('given_refined', '+ ICP'),
           ('built_in_refined', 'built-in detector + ICP'),
           ('given_nearest_neighbour_unrefined', 'NN features'),
           ('given_nearest_neighbour_refined', 'NN + ICP'))


def _mean_error(summary, key):
    values = [entry[key] for entry in summary['objects'].values() if key in entry]
    return f'{np.mean(values):.1f}' if values else '-'


def ablation_rows(folder):
    """Return the Markdown table lines of the rows under ``folder`` (sorted by name)."""
    header = ['row', *(title for _, title in COLUMNS), 'rotation error (deg)',
              'mean Euler error (deg)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for metrics_file in sorted(Path(folder).glob('*/eval/metrics.json')):
        metrics = json.loads(metrics_file.read_text())['metrics']
        cells = [metrics_file.parents[1].name]
        cells += [f"{100 * metrics[key]['mean_add_s_accuracy']:.1f} %" if key in metrics
                  else '-' for key, _ in COLUMNS]
        cells += [_mean_error(metrics['given_unrefined'], key)
                  for key in ('rotation_error_deg', 'mean_euler_error_deg')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def main(argv=None):
    """Print the table of the folder named in ``argv`` (default sys.argv[1:])."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -m training.pose.ablation RUNS_DIR', file=sys.stderr)
        return 2
    print('\n'.join(ablation_rows(argv[0])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
