"""
The one lookup of the package's own data files: config/, launch/ and the bundled weights.

Everything that needs a file shipped with the package asks here, so a ROS install (colcon,
share directory) and a venv (editable install, source tree) behave alike.
"""

from pathlib import Path

#: The bundled exported weights (package data next to the code, in a venv and on a ROS install).
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / 'weights'
#: The source-tree root (config/, launch/) of an editable install; share_path's fallback.
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def share_path(*parts):
    """
    Return the path of a data file of the package (parts like 'config', 'x.yaml').

    On a ROS install (colcon) the files live in the package's share directory, found via
    ament_index; in a venv (editable install) they are next to the source tree.
    """
    try:
        from ament_index_python.packages import get_package_share_directory
        root = Path(get_package_share_directory('rgbd_perception'))
    except (ImportError, LookupError, OSError, ValueError):
        root = SOURCE_ROOT
    path = root.joinpath(*parts)
    source = SOURCE_ROOT.joinpath(*parts)
    return source if not path.exists() and source.exists() else path


def bundled_weights(name):
    """Return the path of a bundled weights file (e.g. 'pose_demo.safetensors')."""
    return WEIGHTS_DIR / name
