"""Lint: docstrings follow PEP 257 with ROS's ament conventions."""

from pathlib import Path

from ament_pep257.main import main
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    """Every docstring of the package, tests and launch files follows ament_pep257."""
    checked = ('rgbd_perception', 'training', 'test', 'launch', 'setup.py')
    paths = [str(ROOT / p) for p in checked]
    assert main(argv=paths) == 0, 'Found code style errors / warnings'
