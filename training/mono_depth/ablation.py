"""
The monocular-depth ablation table: ``python -m training.mono_depth.ablation DIR``.

Reads ``<row>/eval/metrics.json`` of every row folder (written by scripts/mono_depth_ablation)
and prints one Markdown row each: held-out synthetic AbsRel and RMSE of the RGB branch (metric)
and of zero-shot stitching (RGB encoder -> RGB-D decoder), and the real frames' median-scaled
AbsRel and delta1 per sensor.
"""

import json
from pathlib import Path
import sys


def _cells(metrics, key):
    entry = metrics.get(key)
    return [f"{entry['abs_rel']:.3f}", f"{entry['rmse']:.2f}"] if entry else ['-', '-']


def ablation_rows(folder):
    """Return the Markdown table lines of the rows under ``folder`` (sorted by name)."""
    reports = sorted(Path(folder).glob('*/eval/metrics.json'))
    sensors = sorted({sensor for report in reports
                      for sensor in json.loads(report.read_text())['metrics'].get('real', {})})
    header = ['row', 'synthetic AbsRel', 'RMSE (m)', 'stitched AbsRel', 'stitched RMSE (m)',
              *(f'{sensor} AbsRel / delta1 (median-scaled)' for sensor in sensors)]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for report in reports:
        metrics = json.loads(report.read_text())['metrics']
        synthetic = metrics['synthetic']
        cells = [report.parents[1].name, *_cells(synthetic['rgb'], 'metric'),
                 *_cells(synthetic.get('stitched', {}), 'metric')]
        for sensor in sensors:
            entry = metrics.get('real', {}).get(sensor, {}).get('median_scaled')
            cells.append(f"{entry['abs_rel']:.3f} / {entry['delta1']:.2f}" if entry else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


if __name__ == '__main__':
    print('\n'.join(ablation_rows(sys.argv[1] if len(sys.argv) > 1
                                  else 'runs/mono-depth-ablation')))
