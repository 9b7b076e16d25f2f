"""
``eval``: metrics JSON and PNG plots of a checkpoint or of exported weights.

The config is the one stored with the model, updated by an optional YAML file and overrides
(e.g. the eval data); the task's evaluate() computes the metrics and draws the plots.
"""

import json
from pathlib import Path

from rgbd_perception.runtime.device import resolve_device
from training.framework import checkpoint
from training.framework.config import default_config, merge_stored, resolve_config
from training.framework.export import build_exported, file_sha256
from training.framework.tasks import TASKS


def _load_checkpoint(path):
    """Return (task name, stored config, weights-loader, source) of a checkpoint or run dir."""
    path = checkpoint.resolve_checkpoint(path)
    state = checkpoint.load(path)

    def build(task, device):
        model = task.build_model()
        model.load_state_dict(state['model'])
        return model.to(device).eval()

    source = {'checkpoint': str(path), 'step': state['step'], 'sha256': file_sha256(path)}
    return state['task'], state['config'], build, source


def _load_weights(path):
    """Return (task name, stored config, weights-loader, source) of exported weights."""
    model, manifest = build_exported(path)
    source = {'weights': str(path), 'step': manifest['step'],
              'sha256': manifest['weights_sha256']}
    return manifest['task'], manifest['config'], lambda task, device: model.to(device), source


def evaluate(out_dir, checkpoint_path=None, weights_path=None, config_file=None,
             overrides=()):
    """
    Evaluate a checkpoint (file or run dir) or exported weights; write out_dir/metrics.json.

    Exactly one of ``checkpoint_path`` and ``weights_path`` is given.  metrics.json holds
    {'task', 'source': {checkpoint|weights, step, sha256}, 'config' (the resolved config
    evaluated with), 'data', 'metrics'}; the task's PNG plots go to ``out_dir`` too.  Return
    that dict.
    """
    if (checkpoint_path is None) == (weights_path is None):
        raise ValueError('give exactly one of checkpoint_path and weights_path')
    task_name, stored, build, source = (_load_checkpoint(checkpoint_path) if checkpoint_path
                                        else _load_weights(weights_path))
    task_class = TASKS[task_name]
    config = resolve_config(merge_stored(default_config(task_class.config_name), stored),
                            config_file, overrides)
    task = task_class(config)
    device = resolve_device(config['device'])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = task.evaluate(build(task, device), device, out_dir)
    report = {'task': task_name, 'source': source, 'config': config,
              'data': task.data_description(), 'metrics': metrics}
    (out_dir / 'metrics.json').write_text(json.dumps(report, indent=2) + '\n')
    return report
