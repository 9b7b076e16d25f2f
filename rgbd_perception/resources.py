"""Locate the package's installed data files (config/, launch/) on a ROS install or in a venv."""

from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]


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
