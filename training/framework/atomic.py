"""
Atomic file writes: a temporary file beside the target, flushed to disk, renamed over it.

A reader never sees a partial file under the final name, and an interruption leaves the earlier
file (or none) in place; only a temporary ``.{name}.{pid}.tmp`` can stay behind, which
:func:`remove_temporaries` deletes. Nothing here imports torch, so the rendering workers of
the synthetic world use it too.
"""

import os
from pathlib import Path

#: What :func:`replace_atomically` names its temporary files: .{name}.{pid}.tmp
TEMPORARY_GLOB = '.*.*.tmp'


def sync_file(path):
    """Flush a written file's data to disk (fsync)."""
    with open(path, 'rb+') as handle:
        os.fsync(handle.fileno())


def replace_atomically(path, write):
    """Call write(temp_path) for a temporary path beside ``path``, fsync it, rename it to path."""
    path = Path(path)
    temp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    temp.unlink(missing_ok=True)
    try:
        write(temp)
        sync_file(temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_temporaries(folder):
    """Delete the temporaries that interrupted :func:`replace_atomically` calls left there."""
    for path in Path(folder).glob(TEMPORARY_GLOB):
        path.unlink(missing_ok=True)
