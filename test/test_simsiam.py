"""SimSiam RGB-D (seed 000): model, augmentation, crops, linear probe, task and CLI."""

from conftest import export_untrained, small_renders
import numpy as np
import pytest
import torch

from rgbd_perception.io.images import write_depth_png, write_rgb
from rgbd_perception.io.recordings import RecordedFrame, write_recording
from rgbd_perception.models.simsiam import simsiam_loss, SimSiamRGBD
from rgbd_perception.tools.sample_scene import sample_frame
from training.cli import main
from training.framework.config import ConfigError, default_config, resolve_config
from training.pose.task import PoseTask
from training.simsiam.augment import apply_view, draw_view, two_views
from training.simsiam.crops import bop_crops, cached_bop_crops, grid_items
from training.simsiam.linear_probe import fit_and_score
from training.simsiam.task import halves_by_frame
from training.synth.catalogue import build_catalogue

#: Small SimSiam settings for the task tests (the architecture is the seed's, the widths not).
TINY = ['model.dim=64', 'model.pred_dim=16', 'data.crop_size=48', 'data.view_size=32',
        'train.batch_size=4', 'train.log_every=1']


@pytest.fixture(scope='module')
def shapes_scenes(tmp_path_factory):
    """Return (train, heldout) BOP folders of small renders of the procedural shapes."""
    catalogue = build_catalogue(sources=('procedural',))
    return small_renders(tmp_path_factory.mktemp('simsiam'), catalogue,
                         [('train', 4, 1), ('heldout', 4, 2)])


def test_model_shapes_and_stop_gradient():
    """Two trunks give 1024 features; z is detached in the loss, p is not."""
    torch.manual_seed(0)
    model = SimSiamRGBD(dim=64, pred_dim=16)
    views = [{b: torch.rand(4, 3, 32, 32) for b in ('rgb', 'hha')} for _ in range(2)]
    assert model.features(views[0]).shape == (4, 1024)
    assert model.features(views[0], ('rgb',)).shape == (4, 512)
    p1, p2, z1, z2 = model(*views)
    assert p1.shape == z1.shape == (4, 64)
    assert -1.0 <= simsiam_loss(p1, p2, z1, z2).item() <= 1.0
    leaves = [torch.randn(4, 8, requires_grad=True) for _ in range(4)]
    simsiam_loss(*leaves).backward()
    assert leaves[0].grad is not None and leaves[1].grad is not None
    assert leaves[2].grad is None and leaves[3].grad is None  # stop-gradient on z
    assert not model.projector[-1].affine  # the last BN of the projector has no affine
    assert simsiam_loss(z1, z2, z1, z2).item() == pytest.approx(
        -torch.nn.functional.cosine_similarity(z1, z2).mean().item(), abs=1e-6)


def test_model_rejects_unknown_branches():
    """Branch names other than rgb / hha, or repeated ones, are refused."""
    for branches in (('depth',), ('rgb', 'rgb'), ()):
        with pytest.raises(ValueError, match='branches'):
            SimSiamRGBD(branches=branches)


def test_views_share_spatial_choices_between_rgb_and_hha():
    """The same image as RGB and HHA gives identical views; spatial-only HHA skips colour."""
    image = torch.rand(3, 40, 40)
    shared = two_views(np.random.default_rng(3), {'rgb': image, 'hha': image.clone()}, 24)
    for view in shared:
        assert torch.equal(view['rgb'], view['hha'])
    spatial = two_views(np.random.default_rng(3), {'rgb': image, 'hha': image.clone()}, 24,
                        hha_colour=False)
    rng = np.random.default_rng(3)
    for view in spatial:
        drawn = draw_view(rng, 40, 40)
        assert torch.equal(view['rgb'], apply_view(image, drawn, 24))
        assert torch.equal(view['hha'], apply_view(image, drawn, 24, colour=False))
    assert not torch.equal(shared[0]['rgb'], shared[1]['rgb'])  # two different views


def test_crops_carry_labels_hha_and_are_cached(shapes_scenes, tmp_path):
    """Crops have the object ids; raw-depth HHA crops exist; the cache returns the same."""
    crops = bop_crops(shapes_scenes[0], size=32, min_visib=0.3, hha='raw')
    assert crops.rgb.shape[1:] == (32, 32, 3) and crops.hha.shape == crops.rgb.shape
    assert set(crops.labels) <= {m.obj_id for m in build_catalogue(sources=('procedural',))}
    assert crops.hha.std() > 0 and len(crops) >= 4
    first = cached_bop_crops(shapes_scenes[0], tmp_path, 32, 0.3, 'raw')
    again = cached_bop_crops(shapes_scenes[0], tmp_path, 32, 0.3, 'raw')
    assert len(list(tmp_path.glob('crops_*.npz'))) == 1
    assert np.array_equal(first.hha, again.hha) and np.array_equal(first.labels, crops.labels)
    first_half, second_half = halves_by_frame(crops)
    assert len(first_half) + len(second_half) == len(crops)
    assert first_half.frames.max() < second_half.frames.min()


def test_grid_windows_lie_inside_the_frame():
    """Unlabelled frames give six windows of half the short side, inside the image."""
    items = grid_items(120, 160)
    assert len(items) == 6 and {label for label, _ in items} == {-1}
    for _, (u, v, side) in items:
        assert side == 60 and 0 <= u - side / 2 and u + side / 2 <= 160
        assert 0 <= v - side / 2 and v + side / 2 <= 120


def test_linear_probe_separates_separable_classes():
    """Well separated clusters score 1.0; features without class information about chance."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=generator) * 5
    labels = torch.arange(3).repeat_interleave(40) + 7  # ids need not start at 0
    features = centres[labels - 7] + torch.randn(120, 16, generator=generator)
    top1, classes = fit_and_score(features[::2], labels[::2], features[1::2], labels[1::2])
    assert top1 == 1.0 and classes == 3
    noise = torch.randn(120, 16, generator=generator)
    shuffled, _ = fit_and_score(noise[::2], labels[::2], noise[1::2], labels[1::2])
    assert shuffled < 0.7


def test_task_trains_exports_and_probes(shapes_scenes, tmp_path, capsys):
    """Two steps of RGB + HHA(raw) train, resume, export and feed the linear-probe CLI."""
    train, heldout = shapes_scenes
    run = tmp_path / 'run'
    common = ['simsiam', '--run-dir', str(run), f'data.train_dirs=[{train}]',
              f'data.eval_dir={heldout}', f'data.cache_dir={tmp_path / "cache"}', 'data.hha=raw',
              *TINY]
    assert main([*common, 'train.steps=1', 'train.checkpoint_every=1']) == 0
    assert main([*common, 'train.steps=2', 'train.checkpoint_every=1', '--resume']) == 0
    assert (run / 'checkpoints' / 'step_000002.pt').is_file()
    weights = tmp_path / 'simsiam.safetensors'
    assert main(['export', '--checkpoint', str(run), '--out', str(weights)]) == 0
    capsys.readouterr()
    probe = ['linear-probe', '--train', str(heldout), '--test', str(heldout),
             '--cache-dir', str(tmp_path / 'cache')]
    assert main([*probe, '--backbone', str(weights), '--branch', 'rgbd']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith('top1 ') and 0.0 <= float(lines[-1].split()[1]) <= 1.0
    assert 'first half of its frames fit' in lines[0]
    assert main([*probe, '--backbone', 'random', '--branch', 'rgb']) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('top1 ')


def test_probe_refuses_weights_without_the_branch(shapes_scenes, tmp_path, capsys):
    """An RGB-only backbone cannot be probed as rgbd: a clear message and exit status 2."""
    train, heldout = shapes_scenes
    run = tmp_path / 'run'
    assert main(['simsiam', '--run-dir', str(run), f'data.train_dirs=[{train}]',
                 f'data.eval_dir={heldout}', f'data.cache_dir={tmp_path}',
                 'model.branches=[rgb]', 'train.steps=1', *TINY]) == 0
    weights = tmp_path / 'rgb.safetensors'
    assert main(['export', '--checkpoint', str(run), '--out', str(weights)]) == 0
    code = main(['linear-probe', '--backbone', str(weights), '--branch', 'rgbd',
                 '--train', str(heldout), '--test', str(heldout), '--cache-dir', str(tmp_path)])
    assert code == 2 and 'lack what --branch rgbd needs' in capsys.readouterr().err


def write_washington(root):
    """Washington crops: 2 categories x 2 instances x 3 frames, categories differ in colour."""
    rng = np.random.default_rng(0)
    for category, tint in (('apple', (200, 40, 40)), ('lime', (40, 200, 40))):
        for instance in (1, 2):
            for frame in range(3):
                name = f'{category}_{instance}'
                prefix = root / category / name / f'{name}_1_{frame}'
                prefix.parent.mkdir(parents=True, exist_ok=True)
                rgb = np.clip(rng.normal(tint, 20, (40, 40, 3)), 0, 255).astype(np.uint8)
                write_rgb(prefix.with_name(prefix.name + '_crop.png'), rgb)
                write_depth_png(prefix.with_name(prefix.name + '_depthcrop.png'),
                                rng.integers(700, 900, (40, 40)).astype(np.uint16))
                prefix.with_name(prefix.name + '_loc.txt').write_text('300,220\n')


def test_washington_instance_protocol(tmp_path, capsys):
    """--washington probes categories on held-out instances; mixing it with --train is refused."""
    root = tmp_path / 'rgbd-dataset'
    write_washington(root)
    probe = ['linear-probe', '--backbone', 'random', '--cache-dir', str(tmp_path / 'cache')]
    assert main([*probe, '--washington', str(root), '--branch', 'rgbd', '--hha', 'raw']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert 'leave-one-instance-out' in lines[0]
    assert '6 training crops, 6 test crops, 2 classes' in lines[-2]
    assert float(lines[-1].split()[1]) == 1.0  # the colours separate the categories
    assert main([*probe, '--washington', str(root), '--train', str(root)]) == 2
    assert main(probe) == 2
    assert 'either --train and --test' in capsys.readouterr().err


def test_pretraining_from_a_recording(shapes_scenes, tmp_path):
    """A bag of the bundled sample sequence trains SimSiam without labels (grid crops)."""
    frames = [sample_frame(i, width=160, height=120) for i in range(3)]
    bag = tmp_path / 'sample_bag'
    write_recording(bag, [RecordedFrame(f.rgb, f.depth_mm, f.intrinsics, 10 ** 9 + i * 10 ** 8)
                          for i, f in enumerate(frames)])
    run = tmp_path / 'run'
    assert main(['simsiam', '--run-dir', str(run), 'data.train_dirs=[]',
                 f'data.real_train=[{{dataset: recording, root: {bag}}}]',
                 f'data.eval_dir={shapes_scenes[1]}',
                 f'data.cache_dir={tmp_path}', 'data.hha=completed', 'train.steps=1',
                 *TINY]) == 0
    cached = list(tmp_path.glob('crops_*.npz'))
    assert len(cached) == 1
    with np.load(cached[0]) as stored:
        assert stored['rgb'].shape == (18, 48, 48, 3) and set(stored['labels']) == {-1}
        assert stored['hha'].shape == (18, 48, 48, 3)


def test_real_lmo_probe_runs_on_colour_only_frames(shared_data, capsys, tmp_path):
    """The random baseline on the real LM-O crops (RGB): 8 classes, a top-1 line."""
    real = shared_data('lmo_real_val')
    assert main(['linear-probe', '--backbone', 'random', '--train', str(real), '--test',
                 str(real), '--cache-dir', str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert '8 classes' in lines[-2] and float(lines[-1].split()[1]) > 1 / 8


def test_simsiam_trunk_initialises_posenet(tmp_path):
    """pretrained.simsiam_weights put the RGB trunk into PoseNet; depth filters start at 0."""
    torch.manual_seed(1)
    simsiam = SimSiamRGBD(dim=64, pred_dim=16)
    weights = export_untrained(simsiam, {'branches': ['rgb', 'hha'], 'backbone': 'resnet18',
                                         'dim': 64, 'pred_dim': 16},
                               tmp_path / 'simsiam.safetensors', 'simsiam')
    for mode in ('rgb', 'rgbd'):
        config = resolve_config(default_config('pose.yaml'), overrides=[
            f'pretrained.simsiam_weights={weights}', f'model.input_mode={mode}'])
        pose = PoseTask(config).build_model()
        expected = simsiam.trunks['rgb'].state_dict()
        for key, value in pose.trunk.state_dict().items():
            if key == 'conv1.weight':
                assert torch.equal(value[:, :3], expected[key])
                assert not value[:, 3:].any()
            else:
                assert torch.equal(value, expected[key]), key
    config = resolve_config(default_config('pose.yaml'), overrides=[
        f'pretrained.simsiam_weights={weights}', 'model.backbone=mobilenet_v2'])
    with pytest.raises(ConfigError, match='resnet18 trunk'):
        PoseTask(config).build_model()
