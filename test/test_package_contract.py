"""The package's ROS contract: package.xml, entry points, installed data, launch files."""

import ast
from pathlib import Path
import xml.etree.ElementTree as ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[1]


def setup_keywords():
    """Return the keyword arguments of the setup() call in setup.py (literals only)."""
    tree = ast.parse((ROOT / 'setup.py').read_text())
    call = next(node for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'setup')
    keywords = {}
    for keyword in call.keywords:
        try:
            keywords[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            keywords[keyword.arg] = keyword.value
    return keywords


def console_scripts():
    """Return {script name: 'module:function'} of the package's console scripts."""
    entries = setup_keywords()['entry_points']['console_scripts']
    return dict(entry.replace(' ', '').split('=') for entry in entries)


def test_package_xml_is_format_3_ament_python():
    """package.xml declares format 3, the name, Apache-2.0, ament_python and test deps."""
    root = ElementTree.parse(ROOT / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'rgbd_perception'
    assert root.findtext('license') == 'Apache-2.0'
    assert root.find('export').findtext('build_type') == 'ament_python'
    exec_depends = {e.text for e in root.findall('exec_depend')}
    assert {'rclpy', 'sensor_msgs', 'diagnostic_msgs'} <= exec_depends
    test_depends = {e.text for e in root.findall('test_depend')}
    assert {'ament_flake8', 'ament_pep257', 'python3-pytest'} <= test_depends


def test_resource_marker_and_setup_cfg_script_dir():
    """The ament index marker exists and console scripts install to lib/<package>."""
    assert (ROOT / 'resource' / 'rgbd_perception').is_file()
    cfg = (ROOT / 'setup.cfg').read_text()
    assert 'script_dir=$base/lib/rgbd_perception' in cfg


def test_console_scripts_resolve_to_functions():
    """Every console script names a function that exists (ros2 run and the venv CLI)."""
    import importlib

    scripts = console_scripts()
    assert {'hha_node', 'rgbd-perception'} <= set(scripts)
    for target in scripts.values():
        module, function = target.split(':')
        assert callable(getattr(importlib.import_module(module), function)), target


def test_launch_files_name_installed_executables_and_parameter_files():
    """Each launch file's executables are console scripts (or exec_depends) and configs exist."""
    scripts = console_scripts()
    root = ElementTree.parse(ROOT / 'package.xml').getroot()
    exec_depends = {e.text for e in root.findall('exec_depend')}
    launch_files = sorted((ROOT / 'launch').glob('*.launch.py'))
    assert launch_files
    for launch_file in launch_files:
        tree = ast.parse(launch_file.read_text())
        strings = {node.value for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        nodes = [{kw.arg: kw.value.value for kw in node.keywords
                  if kw.arg in ('package', 'executable') and isinstance(kw.value, ast.Constant)}
                 for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'Node']
        ours = {n['executable'] for n in nodes if n['package'] == 'rgbd_perception'}
        assert ours and ours <= set(scripts), launch_file
        assert {n['package'] for n in nodes} - {'rgbd_perception'} <= exec_depends, launch_file
        for name in (s for s in strings if s.endswith(('.yaml', '.rviz')) and ' ' not in s):
            assert (ROOT / 'config' / name).is_file(), f'{launch_file.name}: {name}'


def test_data_files_install_launch_and_config():
    """setup.py installs launch/*.launch.py and config/*.yaml into share/rgbd_perception."""
    source = (ROOT / 'setup.py').read_text()
    assert "glob('launch/*.launch.py')" in source
    assert "glob('config/*.yaml')" in source


def test_launch_description_builds_when_launch_is_installed():
    """On a ROS install (launch_ros importable) the launch description builds."""
    pytest.importorskip('launch_ros')
    import importlib.util

    from ament_index_python.packages import get_package_share_directory

    try:
        get_package_share_directory('rgbd_perception')
    except (LookupError, OSError):
        pytest.skip('rgbd_perception is not on AMENT_PREFIX_PATH (run scripts/test)')

    for launch_file in (ROOT / 'launch').glob('*.launch.py'):
        spec = importlib.util.spec_from_file_location(launch_file.stem, launch_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.generate_launch_description().entities
