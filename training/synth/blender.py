"""
Importing bpy (Blender 4.2 as a Python module) in any process, spawned workers included.

Importing bpy puts Blender's bundled script folders (``site-packages/bpy/4.2/scripts/...``)
at the front of sys.path. A process started by multiprocessing's spawn gets its parent's
sys.path, so in a worker of a parent that had imported bpy, ``import bpy`` would find the
pure-Python ``scripts/modules/bpy`` package first and fail (it needs the binary module
loaded). Those folders are therefore dropped from sys.path before the first import; bpy adds
them again itself.
"""

from pathlib import Path
import sys


def _bundled_scripts(entry):
    """Return whether a sys.path entry is one of bpy's bundled script folders."""
    parts = Path(entry).parts
    return 'bpy' in parts and 'scripts' in parts[parts.index('bpy'):]


if 'bpy' not in sys.modules:
    sys.path[:] = [entry for entry in sys.path if not _bundled_scripts(entry)]

import bpy  # noqa: E402 (after the sys.path repair above)
import mathutils  # noqa: E402 (bpy's binary module provides it)

__all__ = ['bpy', 'mathutils']
