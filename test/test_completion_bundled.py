"""The bundled completion weights: they load by default and how they compare with IP-Basic."""

import json

import pytest

from rgbd_perception.runtime.weights import load_exported
from rgbd_perception.stages.completion import BUNDLED_WEIGHTS, CompletionStage
from training.completion.data import real_sample_frames, synthetic_frames
from training.completion.evaluation import evaluate_removal


@pytest.fixture(scope='module')
def bundled_stage():
    """Return the model stage with the bundled weights on the CPU (loaded once per module)."""
    return CompletionStage('model', device='cpu')


def removal_scores(stage, frames, fraction, repeats=1):
    """Return evaluate_removal's entry at ``fraction`` (seed 0) for the stage's model."""
    results, _ = evaluate_removal(frames, [fraction], stage.model, 'cpu', stage.downsample,
                                  seed=0, repeats=repeats)
    return results[f'removal_{round(100 * fraction)}']


def test_bundled_weights_have_a_complete_manifest():
    """The default weights validate (sha256, keys) and name their training command and data."""
    _, manifest = load_exported(BUNDLED_WEIGHTS)
    assert manifest['architecture'] == 'VanishingDepthNet'
    assert manifest['task'] == 'completion'
    assert manifest['model_kwargs']['size'] == 'small'
    assert 'python -m training synth' in manifest['data']['generated_by']
    synthetic = manifest['metrics']['synthetic']
    assert {'removal_50', 'removal_90', 'removal_99'} <= set(synthetic)
    json.dumps(manifest)


@pytest.mark.slow
def test_bundled_model_halves_ip_basic_error_on_heldout_synthetic_frames(bundled_stage, tmp_path,
                                                                         shared_data):
    """
    The first 4 held-out synthetic frames (seed 909, as their recipe), 50 % Perlin removal.

    The model's RMSE is at most 0.6 x IP-Basic's (README: 0.45 on all 40 frames).
    """
    from training.synth.catalogue import build_catalogue
    from training.synth.generate import generate, SynthConfig

    catalogue = build_catalogue(shared_data('lmo_models', 'models'))
    generate(SynthConfig(out=str(tmp_path / 'heldout'), frames=4, seed=909,
                         sensor='structured_light'), catalogue, workers=1)
    heldout_frames = list(synthetic_frames(tmp_path / 'heldout'))
    entry = removal_scores(bundled_stage, heldout_frames, 0.5)
    assert entry['model']['count'] == entry['ip_basic']['count'] > 100000
    assert entry['rmse_ratio'] < 0.6, entry


@pytest.fixture
def real_frames(shared_data):
    """Return the TUM, SUN and NYU frames as (name, rgb, depth, target = depth)."""
    return [(name, rgb, depth, depth)
            for name, rgb, depth in real_sample_frames(shared_data('rgbd_samples'))]


@pytest.mark.slow
def test_bundled_model_beats_ip_basic_on_each_real_frame_at_half_removal(bundled_stage,
                                                                         real_frames):
    """TUM, SUN and NYU frames, 50 % Perlin removal, 4 masks each: model RMSE < IP-Basic's."""
    assert bundled_stage.downsample == 10  # the manifest's runtime.downsample
    for frame in real_frames:
        entry = removal_scores(bundled_stage, [frame], 0.5, repeats=4)
        assert entry['rmse_ratio'] < 1.0, (frame[0], entry)


@pytest.mark.slow
def test_bundled_model_is_on_par_with_ip_basic_on_real_frames_at_90_percent(
        bundled_stage, real_frames):
    """
    90 % removal, the three frames pooled: RMSE within 5 % of IP-Basic's (measured 0.99).

    Not the target (< 1 on each frame; README): SUN stays level with IP-Basic.  At the
    factor it was trained at (1/4) the same model is 2x worse than IP-Basic here.
    """
    entry = removal_scores(bundled_stage, real_frames, 0.9, repeats=4)
    assert entry['rmse_ratio'] < 1.05, entry
