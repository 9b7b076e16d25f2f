"""Training log of a run directory: log.csv with one row per logged step."""

import csv
from pathlib import Path

COLUMNS = ('step', 'loss', 'lr', 'seconds')


class CsvLog:
    """
    Append-only CSV of (step, loss, lr, seconds) rows, flushed after every row.

    step: optimiser steps done; loss: mean training loss over ranks at that step; lr: learning
    rate; seconds: wall-clock seconds since the previous row (or since training (re)started).
    Opening it to resume at ``resume_step`` drops the rows logged after that step by the
    interrupted process, so the log matches an uninterrupted run.
    """

    def __init__(self, path, resume_step=0):
        self.path = Path(path)
        rows = []
        if resume_step > 0 and self.path.is_file():
            with self.path.open(newline='') as handle:
                rows = [row for row in csv.DictReader(handle) if int(row['step']) <= resume_step]
        self._file = self.path.open('w', newline='')
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._writer.writeheader()
        self._writer.writerows(rows)
        self._file.flush()

    def write(self, step, loss, lr, seconds):
        """Append one row and flush it to disk."""
        self._writer.writerow({'step': step, 'loss': f'{loss:.6g}', 'lr': f'{lr:.6g}',
                               'seconds': f'{seconds:.3f}'})
        self._file.flush()

    def close(self):
        """Close the file."""
        self._file.close()
