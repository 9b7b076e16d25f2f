"""Lint: flake8 with ROS's ament_flake8 rules (plugins: import order, quotes, docstrings)."""

from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ['rgbd_perception', 'training', 'test', 'launch', 'setup.py']


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    """The package, its tests and launch files are flake8-clean."""
    paths = [str(ROOT / p) for p in CHECKED]
    rc, errors = main_with_errors(argv=['--config', str(ROOT / 'flake8.ini')] + paths)
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
