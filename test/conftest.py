"""Test settings shared by every test: isolated ROS domain, venv middleware, reference data."""

import os
from pathlib import Path

import pytest

from rgbd_perception.ros.environment import configure_venv_middleware

# A distinct ROS domain per test run, so parallel runs and other ROS users never cross.
os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
# Exported ONNX models go to the checkout's ignored cache, not the user's home.
os.environ.setdefault('RGBD_PERCEPTION_CACHE',
                      str(Path(__file__).resolve().parents[1] / '.cache' / 'test_runtime'))
configure_venv_middleware()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'


@pytest.fixture(scope='module')
def context():
    """Return an rclpy context of its own for this module, shut down afterwards."""
    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    ctx.try_shutdown()


@pytest.fixture
def make_client(context):
    """
    Return make(namespace, nodes=(), ...) -> ros_harness.Client in this module's context.

    Every client made is closed, with its nodes, after the test.
    """
    from ros_harness import Client

    made = []

    def make(namespace, *args, **kwargs):
        made.append(Client(context, namespace, *args, **kwargs))
        return made[-1]

    yield make
    for client in reversed(made):
        client.close()


@pytest.fixture
def shared_data():
    """
    Return a function mapping parts to a path under ../shared/data.

    The test is skipped cleanly when the path is absent (a user's clone has no shared/).
    """
    def locate(*parts):
        path = SHARED_DATA.joinpath(*parts)
        if not path.exists():
            pytest.skip(f'reference data not available: {path}')
        return path
    return locate


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``cuda`` when no CUDA device is present."""
    cuda_items = [item for item in items if 'cuda' in item.keywords]
    if not cuda_items:
        return  # torch is not even imported: geometry-only runs need no torch
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA device')
    for item in cuda_items:
        item.add_marker(skip)


def export_untrained(model, kwargs, path, task, data=None):
    """Write ``model`` as exported weights (safetensors + manifest) at ``path``; return it."""
    import json

    from safetensors.torch import save_file

    from rgbd_perception.runtime.weights import file_sha256

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    manifest = {'format_version': 1, 'task': task, 'architecture': type(model).__name__,
                'model_kwargs': kwargs, 'config': {}, 'data': data or {}, 'metrics': None,
                'step': 0, 'code_revision': 'test', 'created': 'test',
                'weights_file': path.name, 'weights_sha256': file_sha256(path)}
    path.with_suffix('.json').write_text(json.dumps(manifest))
    return path


def small_renders(root, catalogue, specs):
    """Render [(name, frames, seed)] folders of 160 x 120 scenes of 3-4 objects under root."""
    from training.synth.generate import generate, SynthConfig
    from training.synth.scene import SceneOptions

    for name, frames, seed in specs:
        generate(SynthConfig(out=str(root / name), frames=frames, seed=seed, width=160,
                             height=120, scene=SceneOptions(min_objects=3, max_objects=4)),
                 catalogue, workers=1)
    return [root / name for name, _, _ in specs]


@pytest.fixture(scope='session')
def tiny_completion_weights(tmp_path_factory):
    """
    Return exported weights of an untrained, seeded small VanishingDepthNet (8 bins).

    For plumbing tests (stage, CLI, node) that must not depend on the bundled trained model.
    """
    import torch

    from rgbd_perception.models.depth_completion import VanishingDepthNet

    torch.manual_seed(0)
    kwargs = {'size': 'small', 'bins': 8}
    return export_untrained(VanishingDepthNet(**kwargs), kwargs,
                            tmp_path_factory.mktemp('weights') / 'tiny.safetensors', 'completion')


@pytest.fixture(scope='session')
def tiny_mono_depth_weights(tmp_path_factory):
    """Return exported weights of an untrained, seeded small thesis MonoDepthNet (width 64)."""
    import torch

    from rgbd_perception.models.mono_depth import MonoDepthNet

    torch.manual_seed(0)
    kwargs = {'rgbd_branch': False, 'widths': [8, 16, 16, 24], 'latent': 24, 'growth': 4,
              'dense_layers': 1}
    return export_untrained(MonoDepthNet(**kwargs), kwargs,
                            tmp_path_factory.mktemp('weights') / 'mono.safetensors',
                            'mono-depth', data={'input_width': 64})


@pytest.fixture(scope='session')
def untrained_pose_weights(tmp_path_factory):
    """
    Return {'rgbd': path, 'rgb': path}: untrained seeded PoseNets for the demo catalogue.

    For plumbing tests (stage, CLI, node); crops of 64 pixels.
    """
    import torch

    from rgbd_perception.models.pose import PoseNet

    ids = [1000, 1100, 1101, 1102, 1103, 1104]
    folder = tmp_path_factory.mktemp('pose_weights')
    paths = {}
    for mode in ('rgbd', 'rgb'):
        torch.manual_seed(0)
        kwargs = {'num_objects': len(ids), 'input_mode': mode, 'rotation': '6d',
                  'embedding': 64, 'crop_size': 64}
        paths[mode] = export_untrained(PoseNet(**kwargs), kwargs,
                                       folder / f'pose_{mode}.safetensors', 'pose',
                                       {'object_ids': ids})
    return paths


@pytest.fixture(scope='session')
def ball_scene(tmp_path_factory):
    """Return a BOP scene folder of one VGA frame with the demo's ball on a table (exact depth)."""
    from training.synth.catalogue import build_catalogue
    from training.synth.generate import generate, SynthConfig
    from training.synth.scene import SceneOptions

    out = tmp_path_factory.mktemp('ball') / 'frames'
    ball = [m for m in build_catalogue(sources=('procedural',)) if m.obj_id == 1104]
    options = SceneOptions(min_objects=1, max_objects=1, max_distractors=0,
                           occluder_probability=0.0)
    generate(SynthConfig(out=str(out), frames=1, seed=3, sensor='none', scene=options), ball)
    return out / '000000'


@pytest.fixture(scope='session')
def ball_frame(ball_scene):
    """Return (rgb, depth m, K values, ball R, t m, bbox, visible mask) of a rendered frame."""
    from rgbd_perception.io.bop import BopScene

    scene = BopScene(ball_scene)
    truth, info = scene.ground_truth(0)[0], scene.gt_info(0)[0]
    return (scene.read_rgb(0), scene.read_depth_metres(0), scene.intrinsics(0), truth.rotation,
            truth.translation, tuple(info['bbox_visib']), scene.read_mask(0, truth.gt_index))
