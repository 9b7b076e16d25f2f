"""
The package's layers, checked by parsing every module's imports (no module is imported).

geometry (and the shared errors) < io < models < runtime < stages < ros < cli / tools: a module
may import its own layer and the layers below it, never one above.  Only ros, tools and cli
talk to ROS; training is offline and never imports rclpy or the ros layer.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layer of each subpackage / module of rgbd_perception, lowest first.
LAYERS = {
    'rgbd_perception.errors': 0,
    'rgbd_perception.geometry': 0,
    'rgbd_perception.io': 1,
    'rgbd_perception.models': 2,
    'rgbd_perception.runtime': 3,
    'rgbd_perception.stages': 4,
    'rgbd_perception.ros': 5,
    'rgbd_perception.tools': 6,
    'rgbd_perception.cli': 6,
}
ROS_MODULES = ('rclpy', 'sensor_msgs', 'std_msgs', 'geometry_msgs', 'visualization_msgs',
               'diagnostic_msgs', 'builtin_interfaces', 'launch', 'launch_ros')
ROS_LAYERS = ('rgbd_perception.ros', 'rgbd_perception.tools', 'rgbd_perception.cli')
#: The rgbd_perception modules that import rclpy (training must not import them).
ROS_USERS = ('rgbd_perception.ros', 'rgbd_perception.tools.demo')


def module_name(path):
    """Return the dotted module name of a .py file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def imported_modules(path):
    """Return the absolute module names a file imports (at any depth of the file)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names += [f'{node.module}.{alias.name}' for alias in node.names]
    return names


def layer_of(name):
    """Return (layer key, rank) of a module of rgbd_perception, or None for other modules."""
    matches = [key for key in LAYERS if name == key or name.startswith(key + '.')]
    if not matches:
        return None
    key = max(matches, key=len)
    return key, LAYERS[key]


def package_files(package):
    """Return the .py files of a top-level package of the repository."""
    return sorted((ROOT / package).rglob('*.py'))


def test_every_module_belongs_to_a_layer():
    loose = [module_name(p) for p in package_files('rgbd_perception')
             if module_name(p) != 'rgbd_perception' and layer_of(module_name(p)) is None]
    assert not loose, f'modules outside every layer: {loose}'


@pytest.mark.parametrize('path', package_files('rgbd_perception'), ids=module_name)
def test_no_module_imports_a_higher_layer(path):
    own_key, own_rank = layer_of(module_name(path)) or ('rgbd_perception', 0)
    upward = []
    for name in imported_modules(path):
        other = layer_of(name)
        if other is not None and other[1] > own_rank:
            upward.append(name)
        if name.split('.')[0] in ROS_MODULES and not own_key.startswith(ROS_LAYERS):
            upward.append(name)
    assert not upward, f'{module_name(path)} ({own_key}) imports a higher layer: {upward}'


def test_training_never_imports_ros():
    offenders = {}
    for path in package_files('training'):
        bad = [name for name in imported_modules(path)
               if name.split('.')[0] in ROS_MODULES or name.startswith(ROS_USERS)]
        if bad:
            offenders[module_name(path)] = bad
    assert not offenders, f'training modules that import ROS: {offenders}'


def test_the_checker_sees_an_upward_import(tmp_path):
    # The check itself can fail: a geometry file importing a stage is caught.
    fake = tmp_path / 'fake.py'
    fake.write_text('from rgbd_perception.stages.hha import HhaStage\nimport rclpy\n')
    names = imported_modules(fake)
    assert layer_of('rgbd_perception.stages.hha') == ('rgbd_perception.stages', 4)
    assert 'rgbd_perception.stages.hha' in names and 'rclpy' in names
    assert layer_of('rgbd_perception.geometry.hha')[1] < layer_of(names[0])[1]
