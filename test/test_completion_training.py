"""Vanishing Depth training pieces: masks, randomisation, loss, data, the completion task."""

import hashlib
import json

import numpy as np
import pytest
from safetensors.torch import load_file
from test_backbones import MOBILENET, needs_shared
import torch

from training.cli import main
from training.completion.data import (fit_to_size, real_sample_frames, real_sample_groups,
                                      RealCompletionFrames, SyntheticCompletionFrames)
from training.completion.evaluation import evaluate_removal, perlin_removal
from training.completion.loss import (balanced_loss, multiscale_balanced_loss,
                                      scale_invariant_log_loss, VARIANCE_FOCUS)
from training.completion.masks import KINDS, noise_field, perlin_noise, removal_mask
from training.completion.randomise import (random_crop_and_flip, randomise_distribution,
                                           removal_fractions, remove_depth)
from training.datasets import DatasetLayoutError
from training.synth.catalogue import build_catalogue
from training.synth.generate import generate, SynthConfig
from training.synth.scene import SceneOptions


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('fraction', [0.01, 0.5, 0.9, 0.99])
def test_removal_masks_remove_the_asked_share_of_valid_depth(kind, fraction):
    """Thresholding at the valid pixels' quantile removes the fraction exactly."""
    generator = torch.Generator().manual_seed(3)
    noise = noise_field(kind, 2, 60, 80, generator)
    valid = torch.rand(2, 1, 60, 80, generator=generator) > 0.3
    removed = removal_mask(noise, valid, torch.tensor([fraction, fraction]))
    assert not (removed & ~valid).any()
    share = removed.sum(dim=(1, 2, 3)).float() / valid.sum(dim=(1, 2, 3))
    assert torch.all((share - fraction).abs() <= 0.001), share


def test_removal_keeps_one_pixel_and_perlin_is_smooth_and_seeded():
    """99.99 % removal keeps a pixel; Perlin noise is spatially smooth and reproducible."""
    valid = torch.ones(1, 1, 10, 10, dtype=torch.bool)
    removed = removal_mask(torch.rand(1, 10, 10), valid, torch.tensor([1.0]))
    assert int((valid & ~removed).sum()) == 1
    first = perlin_noise(1, 64, 64, generator=torch.Generator().manual_seed(5))
    again = perlin_noise(1, 64, 64, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, again)
    step = (first[:, 1:] - first[:, :-1]).abs().mean()
    assert step < 0.1 * (first.max() - first.min())


def test_scale_invariant_loss_values():
    """0 for a perfect prediction; 10 sqrt(1 - lambda) |log c| for a global scale c."""
    target = 1 + torch.rand(2, 1, 8, 8)
    mask = torch.ones_like(target, dtype=torch.bool)
    torch.testing.assert_close(scale_invariant_log_loss(target, target, mask),
                               torch.full((2,), 1e-3), atol=1e-3, rtol=0)
    loss = scale_invariant_log_loss(2 * target, target, mask)
    expected = 10 * np.sqrt(1 - VARIANCE_FOCUS) * np.log(2)
    torch.testing.assert_close(loss, torch.full((2,), expected, dtype=torch.float32))
    assert scale_invariant_log_loss(target, target, ~mask).eq(0).all()


def test_balanced_loss_weighs_reconstruction_and_prediction_equally():
    """Errors only on the few removed pixels count as much as errors on all kept ones."""
    target = torch.ones(1, 1, 10, 10)
    input_valid = torch.ones_like(target, dtype=torch.bool)
    input_valid[0, 0, 0, :2] = False
    predicted = target.clone()
    predicted[~input_valid] = 2.0
    noisy_removed = balanced_loss(predicted, target, input_valid)
    predicted = target.clone()
    predicted[input_valid] = 2.0
    noisy_kept = balanced_loss(predicted, target, input_valid)
    torch.testing.assert_close(noisy_removed, noisy_kept)
    scales = [predicted, predicted[..., ::2, ::2]]
    assert multiscale_balanced_loss(scales, target, input_valid) > 0


def test_distribution_randomisation_is_affine_and_in_the_bins():
    """Non-metric samples map their clean range into the bins; order and holes are kept."""
    torch.manual_seed(0)
    clean = 0.5 + 3 * torch.rand(16, 1, 6, 6)
    depth = clean * (torch.rand(16, 1, 6, 6) > 0.3)
    new_depth, new_clean = randomise_distribution(depth, clean, [0.2, 1.0, 4.0, 15.0], 0.0)
    assert torch.equal(new_depth > 0, depth > 0)
    for index in range(16):
        values, mapped = clean[index].flatten(), new_clean[index].flatten()
        assert torch.equal(values.argsort(), mapped.argsort())
        assert 0.2 <= mapped.min() and mapped.max() <= 15.0
        gain = (mapped[1] - mapped[0]) / (values[1] - values[0])
        torch.testing.assert_close(mapped - mapped[0], gain * (values - values[0]),
                                   rtol=1e-4, atol=1e-4)
    kept, _ = randomise_distribution(depth, clean, [0.2, 15.0], 1.0)
    assert torch.equal(kept, depth)


def test_curriculum_moves_from_reconstruction_to_balanced():
    """Removal fractions average about 0.25 at the start and 0.5 after the warm-up."""
    torch.manual_seed(0)
    start = removal_fractions(20000, 0.0, 0.5)
    end = removal_fractions(20000, 0.8, 0.5)
    assert abs(float(start.mean()) - 0.255) < 0.01
    assert abs(float(end.mean()) - 0.5) < 0.01
    assert 0.01 - 1e-6 <= float(start.min()) and float(end.max()) <= 0.99 + 1e-6
    holed, removed = remove_depth(torch.ones(2, 1, 20, 20), torch.tensor([0.5, 0.5]),
                                  {'perlin': 1.0, 'blocky': 0.0, 'pixel': 0.0})
    assert torch.equal(holed == 0, removed)


def test_crops_flip_up_down_only_when_asked():
    """A full-size crop is the frame itself, mirrored left-right and/or up-down."""
    rows = torch.arange(6.0).view(1, 1, 6, 1).expand(2, 1, 6, 8)
    batch = {'rgb': rows.expand(2, 3, 6, 8), 'depth': rows + 1, 'clean': rows + 2}
    torch.manual_seed(0)
    for _ in range(8):
        kept = random_crop_and_flip(batch, 6, 8)
        torch.testing.assert_close(kept['depth'], batch['depth'])
        flipped = random_crop_and_flip(batch, 6, 8, vertical_flip=1.0)
        for name in batch:
            torch.testing.assert_close(flipped[name], batch[name].flip(-2))
    crop = random_crop_and_flip(batch, 4, 8, vertical_flip=1.0)['clean']
    assert crop.shape == (2, 1, 4, 8) and bool((crop[:, :, :-1] > crop[:, :, 1:]).all())


def test_crops_without_up_down_flips_draw_what_the_bundled_recipe_drew():
    """vertical_flip 0 draws place and left-right flip only: the bundled weights' stream."""
    batch = {name: torch.rand(1, 3, 6, 8) for name in ('rgb', 'depth', 'clean')}
    torch.manual_seed(0)
    random_crop_and_flip(batch, 4, 4)
    after_crop = torch.rand(())
    torch.manual_seed(0)
    torch.randint(0, 3, (1,)), torch.randint(0, 5, (1,)), torch.rand(())
    assert torch.equal(after_crop, torch.rand(()))
    torch.manual_seed(0)
    random_crop_and_flip(batch, 4, 4, vertical_flip=0.5)
    assert not torch.equal(after_crop, torch.rand(()))  # one draw more


@pytest.fixture(scope='module')
def synthetic_dirs(tmp_path_factory):
    """Return (train, heldout) folders of 2 tiny synthetic frames each (pybullet renders)."""
    root = tmp_path_factory.mktemp('completion')
    catalogue = build_catalogue(sources=('procedural',))
    dirs = []
    for name, seed in (('train', 1), ('heldout', 2)):
        generate(SynthConfig(out=str(root / name), frames=2, seed=seed, width=96, height=72,
                             scene=SceneOptions(min_objects=1, max_objects=2)),
                 catalogue, workers=1)
        dirs.append(root / name)
    return dirs


def test_synthetic_frames_at_the_working_size(synthetic_dirs):
    """Frames load at half size with sensor depth, exact depth and colour in [0, 1]."""
    frames = SyntheticCompletionFrames([synthetic_dirs[0]], downsample=2)
    item = frames[1]
    assert len(frames) == 2
    assert item['rgb'].shape == (3, 36, 48) and item['rgb'].max() <= 1.0
    assert item['depth'].shape == item['clean'].shape == (1, 36, 48)
    assert (item['clean'] > 0).float().mean() > 0.9
    assert (item['depth'] > 0).sum() <= (item['clean'] > 0).sum()


def test_completion_task_trains_evaluates_and_exports(synthetic_dirs, tmp_path):
    """Two steps of `python -m training completion`, then eval and export with a manifest."""
    train, heldout = synthetic_dirs
    run = tmp_path / 'run'
    overrides = [f'data.train_dirs=[{train}]', f'data.eval_dir={heldout}', 'data.eval_frames=1',
                 f'data.real_dir={tmp_path / "absent"}', 'data.eval_removal=[0.5]',
                 'data.downsample=2', 'augment.crop=[24,32]', 'train.steps=2',
                 'train.batch_size=2', 'model.bins=8']
    assert main(['completion', '--run-dir', str(run), *overrides]) == 0
    assert main(['eval', '--checkpoint', str(run), '--out', str(tmp_path / 'eval')]) == 0
    report = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    entry = report['metrics']['synthetic']['removal_50']
    assert entry['model']['count'] == entry['ip_basic']['count'] > 0
    assert entry['rmse_ratio'] == pytest.approx(entry['model']['rmse'] /
                                                entry['ip_basic']['rmse'])
    assert 'real' not in report['metrics']
    assert (tmp_path / 'eval' / 'synthetic_examples.png').is_file()
    weights = tmp_path / 'completion.safetensors'
    assert main(['export', '--checkpoint', str(run), '--out', str(weights), '--metrics',
                 str(tmp_path / 'eval' / 'metrics.json')]) == 0
    manifest = json.loads(weights.with_suffix('.json').read_text())
    assert manifest['architecture'] == 'VanishingDepthNet'
    assert manifest['model_kwargs']['bins'] == 8
    assert manifest['data']['train_dirs'] == [str(train)]


@needs_shared
def test_completion_trains_a_frozen_pretrained_rgb_encoder(synthetic_dirs, tmp_path):
    """A MobileNetV2 encoder from the shared weights stays as loaded; the manifest has sha256."""
    train, heldout = synthetic_dirs
    run = tmp_path / 'run'
    assert main(['completion', '--run-dir', str(run), f'data.train_dirs=[{train}]',
                 f'data.eval_dir={heldout}', 'data.downsample=2', 'augment.crop=[24,32]',
                 'train.steps=1', 'train.batch_size=2', 'model.bins=8',
                 'model.rgb_backbone=mobilenet_v2', 'model.input_scaling=minus_one_one',
                 f'pretrained.backbone_weights={MOBILENET}']) == 0
    weights = tmp_path / 'completion.safetensors'
    assert main(['export', '--checkpoint', str(run), '--out', str(weights)]) == 0
    manifest = json.loads(weights.with_suffix('.json').read_text())
    assert manifest['provenance']['init_weights']['pretrained.backbone_weights'] == {
        'path': str(MOBILENET), 'sha256': hashlib.sha256(MOBILENET.read_bytes()).hexdigest()}
    assert manifest['model_kwargs']['rgb_backbone'] == 'mobilenet_v2'
    assert manifest['model_kwargs']['input_scaling'] == 'minus_one_one'
    trained, initial = load_file(weights), torch.load(MOBILENET, weights_only=True)
    for key in ('0.0.0.weight', '1.4.conv.0.1.running_mean'):  # features.0, features.4
        assert torch.equal(trained[f'rgb_encoder.stages.{key}'],
                           initial[f'features.{key[2:]}'])


def test_real_sample_frames_decode(shared_data):
    """The three shared frames decode to metric depth in their documented ranges."""
    frames = {name: (rgb, depth) for name, rgb, depth in
              real_sample_frames(shared_data('rgbd_samples'))}
    assert sorted(frames) == ['nyu_raw', 'sun', 'tum']
    ranges = {'tum': (1.46, 9.34), 'sun': (1.05, 8.0), 'nyu_raw': (1.38, 6.7)}
    for name, (rgb, depth) in frames.items():
        assert rgb.shape == (480, 640, 3) and depth.shape == (480, 640)
        valid = depth[depth > 0]
        low, high = ranges[name]
        assert low - 0.01 <= valid.min() and valid.max() <= high + 0.01, name
        assert 0.75 < valid.size / depth.size < 0.95


def test_real_sample_groups_add_the_five_slambook_kinect_frames(shared_data):
    """The Kinect v1 sequence is one group of five millimetre frames; the others one each."""
    groups = real_sample_groups(shared_data('rgbd_samples', 'slambook_kinect').parent)
    assert {name: len(frames) for name, frames in groups.items()} == {
        'tum': 1, 'sun': 1, 'nyu_raw': 1, 'slambook_kinect': 5}
    for name, rgb, depth in groups['slambook_kinect']:
        assert rgb.shape == (480, 640, 3) and depth.dtype == np.float32
        valid = depth[depth > 0]
        assert 0.7 < valid.min() and valid.max() < 10.0, name  # metres, not millimetres
        assert 0.6 < valid.size / depth.size < 0.8
    assert not np.array_equal(groups['slambook_kinect'][0][2], groups['slambook_kinect'][1][2])


def test_evaluation_scores_removed_pixels_only():
    """An oracle model scores 0 error; IP-Basic does not; masks are seeded."""
    rows = np.linspace(1.0, 3.0, 48, dtype=np.float32)[:, None]
    depth = np.repeat(rows, 64, axis=1) + np.linspace(0, 1, 64, dtype=np.float32)[None]
    np.testing.assert_array_equal(perlin_removal(depth, 0.5, 3), perlin_removal(depth, 0.5, 3))
    truth = torch.from_numpy(depth)[None, None]

    def oracle(rgb, holed):
        return torch.nn.functional.interpolate(truth, size=holed.shape[-2:], mode='area')

    frames = [('plane', np.zeros((48, 64, 3), np.uint8), depth, depth)]
    results, examples = evaluate_removal(frames, [0.5], oracle, 'cpu', downsample=1)
    entry = results['removal_50']
    assert entry['model']['rmse'] < 1e-6 < entry['ip_basic']['rmse']
    assert entry['model']['count'] == round(0.5 * depth.size)
    assert set(examples) == {0.5}


def test_fit_to_size_crops_the_centre_and_averages_valid_depth_only():
    """A 48 x 80 frame becomes 24 x 32 from its central 48 x 64; holes do not pull depth down."""
    rgb = np.zeros((48, 80, 3), np.uint8)
    rgb[:, :8] = 255                      # cropped away (left margin of 8 columns)
    depth = np.full((48, 80), 2.0, np.float32)
    depth[::2, ::2] = 0.0                 # a quarter missing: every output pixel keeps 2 m
    depth[:2, 8:10] = 0.0                 # the top-left output pixel loses all its input
    clean = np.full((48, 80), 3.0, np.float32)
    small_rgb, small_depth, small_clean = fit_to_size(rgb, depth, clean, (24, 32))
    assert small_rgb.shape == (24, 32, 3) and not small_rgb.any()
    assert small_depth.shape == small_clean.shape == (1, 24, 32)
    assert float(small_depth[0, 0, 0]) == 0.0
    torch.testing.assert_close(small_depth[0].flatten()[1:], torch.full((24 * 32 - 1,), 2.0))
    torch.testing.assert_close(small_clean, torch.full((1, 24, 32), 3.0))


def test_completion_trains_on_a_real_dataset_reader(tmp_path):
    """data.real_train reads a dataset through training.datasets; its depth is the target."""
    from test_datasets import write_tum_sequence

    write_tum_sequence(tmp_path / 'tum' / 'rgbd_dataset_freiburg1_xyz', [1.0, 1.1], [1.0, 1.1])
    frames = RealCompletionFrames('tum', tmp_path / 'tum', (24, 32))
    item = frames[1]
    assert len(frames) == 2 and item['rgb'].shape == (3, 24, 32)
    assert torch.equal(item['depth'], item['clean'])
    with pytest.raises(DatasetLayoutError, match='unknown dataset'):
        RealCompletionFrames('nope', tmp_path, (24, 32))
    overrides = ['data.train_dirs=[]', f'data.real_train=[{{dataset: tum, root: {tmp_path}/tum}}]',
                 'data.real_train_size=[24,32]', 'augment.crop=[16,24]', 'train.steps=2',
                 'train.batch_size=2', 'model.bins=8']
    assert main(['completion', '--run-dir', str(tmp_path / 'run'), *overrides]) == 0
    assert (tmp_path / 'run' / 'latest.pt').exists()
