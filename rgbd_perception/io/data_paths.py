"""
The one lookup of the package's own data files: config/, launch/, weights, Fast DDS profile.

Everything that needs a file shipped with the package asks here, so a ROS install (colcon,
share directory) and a venv (editable install, source tree) behave alike.  Two kinds:

* package data (:func:`package_file`): files inside the Python package (``weights/``,
  ``ros/fastdds_profile.xml``), next to the code wherever it is installed;
* share data (:func:`share_path`): ``config/`` and ``launch/``, in the share directory of a
  ROS install or the source tree of an editable install; :func:`data_file` takes a user's
  path or one relative to it.
"""

from pathlib import Path

#: The installed Python package (package data lives inside it).
PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: The source-tree root (config/, launch/) of an editable install; share_path's fallback.
SOURCE_ROOT = PACKAGE_DIR.parent


def package_file(*parts):
    """Return the path of a file inside the Python package (parts like 'weights', 'x.json')."""
    return PACKAGE_DIR.joinpath(*parts)


def bundled_weights(name):
    """Return the path of a bundled weights file (e.g. 'pose_demo.safetensors')."""
    return package_file('weights', name)


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


def data_file(path):
    """
    Return a user-given data file: ``path`` itself when it names a file, else share_path(path).

    So 'config/objects/demo.yaml' finds the package's catalogue from any working directory,
    while a path to the user's own file is used as given.
    """
    path = Path(path)
    return path if path.is_file() else share_path(path)
