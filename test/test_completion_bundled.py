"""The bundled completion weights: they load by default and beat IP-Basic on a real frame."""

import json

import numpy as np
import pytest

from rgbd_perception.runtime.weights import load_exported
from rgbd_perception.stages.completion import BUNDLED_WEIGHTS, CompletionStage
from training.completion.data import real_sample_frames
from training.completion.evaluation import perlin_removal


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


@pytest.mark.parametrize('fraction', [0.5, 0.9])
def test_bundled_model_beats_ip_basic_on_the_real_tum_frame(fraction, shared_data):
    """RMSE on Perlin-removed measurements of the TUM frame is below IP-Basic's."""
    frames = {name: (rgb, depth) for name, rgb, depth in
              real_sample_frames(shared_data('rgbd_samples'))}
    rgb, depth = frames['tum']
    removed = perlin_removal(depth, fraction, seed=7)
    holed = np.where(removed, 0.0, depth).astype(np.float32)
    errors = {}
    for method in ('model', 'ip_basic'):
        completed = CompletionStage(method, device='cpu')(rgb, holed)
        errors[method] = float(np.sqrt(np.mean((completed[removed] - depth[removed]) ** 2)))
    assert errors['model'] < errors['ip_basic'], errors
