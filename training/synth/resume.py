"""
Resumable synthetic datasets: the record of the options and the frames already done.

Besides its BOP files (:mod:`training.synth.bop_writer`), an output folder DIR holds::

    DIR/synth.json                  {"complete": bool, "options": ...}: what determines the files
    DIR/.frames/{index:08d}.json    while rendering: what frame `index`'s writer returned

A frame is done once its record in .frames/ exists: the parent writes it atomically when the
frame's result arrives, and the worker had flushed every image of the frame to disk before
returning it. A run with the options of an incomplete DIR renders only the frames not done and
takes the others' results from their records, so the per-scene JSON files (written from the
results in frame order) and every other file come out byte-identical to an uninterrupted run;
other options are refused. Once every frame is done synth.json says complete and .frames/ is
removed: a further run has nothing to do.
"""

import json
from pathlib import Path
import shutil

from training.framework.atomic import remove_temporaries, replace_atomically
from training.framework.config import flatten

RECORD = 'synth.json'
DONE_DIR = '.frames'


class FolderError(ValueError):
    """Raised for an output folder that is neither new, empty nor a render of these options."""


def _done_path(out, index):
    return Path(out) / DONE_DIR / f'{index:08d}.json'


def _write_text(path, text):
    replace_atomically(path, lambda temp: temp.write_text(text))


def _as_json(options):
    """Return options as they read back from JSON (tuples as lists, other types as str)."""
    return json.loads(json.dumps(options, default=str))


def _write_record(out, options, complete):
    record = {'complete': complete, 'options': _as_json(options)}
    _write_text(Path(out) / RECORD, json.dumps(record, sort_keys=True, indent=1) + '\n')


def _differences(there, here):
    there, here = flatten(there), flatten(here)
    keys = sorted(k for k in set(there) | set(here) if there.get(k) != here.get(k))
    return '; '.join(f'{k}: {there.get(k)!r} there, {here.get(k)!r} here' for k in keys)


def _clean(out):
    """Remove the done records and any temporary file an interrupted atomic write left."""
    shutil.rmtree(Path(out) / DONE_DIR, ignore_errors=True)
    for folder in (Path(out), *(p for p in Path(out).iterdir() if p.is_dir())):
        remove_temporaries(folder)


def start(out, options):
    """
    Make ``out`` ready to render ``options``; return whether it holds that render complete.

    options: JSON-able description of everything the files depend on. A missing or empty
    folder is created and recorded; a folder recorded with equal options is resumed. Raises
    FolderError for a file, for a folder of other contents, or of other options.
    """
    out = Path(out)
    options = _as_json(options)
    if out.exists() and not out.is_dir():
        raise FolderError(f'{out} exists and is not a folder')
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        _write_record(out, options, complete=False)
        return False
    if not (out / RECORD).is_file():
        raise FolderError(f'{out} exists and is not an empty folder nor a synth output '
                          f'(no {RECORD})')
    record = json.loads((out / RECORD).read_text())
    if record['options'] != options:
        raise FolderError(f'{out} was rendered with other options '
                          f'({_differences(record["options"], options)}): run with the same '
                          'options to resume it, or choose another folder')
    if record['complete']:
        _clean(out)
    return record['complete']


def missing(out, frames):
    """Return the indices among 0..frames-1 of the frames not done, ascending."""
    folder = Path(out) / DONE_DIR
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return [index for index in range(frames) if _done_path(out, index).name not in names]


def all_results(out, frames, todo, rendered):
    """
    Yield the result of every frame 0..frames-1 in order, recording the new ones as done.

    todo: the indices not done (:func:`missing`); rendered: their results, in that order.
    The others' results are read back from their records (JSON: tuples come back as lists).
    """
    todo = set(todo)
    for index in range(frames):
        if index in todo:
            result = next(rendered)
            path = _done_path(out, index)
            path.parent.mkdir(exist_ok=True)
            _write_text(path, json.dumps(result))
        else:
            result = json.loads(_done_path(out, index).read_text())
        yield result


def finish(out, options):
    """Record ``out`` as a complete render of ``options``; remove the done records."""
    _write_record(out, options, complete=True)
    _clean(out)
