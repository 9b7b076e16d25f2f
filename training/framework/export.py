"""
Published weights: a safetensors file plus a JSON manifest beside it (weights.json).

The manifest names the architecture and its constructor kwargs, the task, the resolved
config, the training data, evaluation metrics, the code revision, the creation time and the
sha256 of the weights file.  Loading and validation live in rgbd_perception.runtime.weights
(the runtime needs them without training/); this module adds training's own architectures.
"""

from datetime import datetime, timezone
import json
from pathlib import Path
import subprocess

from safetensors.torch import save_file

from rgbd_perception.runtime import weights
from rgbd_perception.runtime.weights import ExportError, file_sha256, manifest_path
from training.framework import checkpoint
from training.framework.tasks import ARCHITECTURES, TASKS

FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]


def code_revision():
    """Return `git rev-parse HEAD` of the repository holding this code, or 'unknown'."""
    try:
        result = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO_ROOT, text=True,
                                capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return result.stdout.strip() if result.returncode == 0 else 'unknown'


def read_metrics(metrics_path, checkpoint_path):
    """Return the metrics of an eval metrics.json, checking they are of ``checkpoint_path``."""
    report = json.loads(Path(metrics_path).read_text())
    if report.get('source', {}).get('sha256') != file_sha256(checkpoint_path):
        raise ExportError(f'{metrics_path} was not computed on checkpoint {checkpoint_path}')
    return report['metrics']


def export_checkpoint(checkpoint_path, out_path, metrics_path=None):
    """
    Write the model weights of a checkpoint (file or run dir) to ``out_path`` (.safetensors).

    The manifest goes beside it (see manifest_path) and is returned; its metrics come from
    ``metrics_path`` (a metrics.json written by `eval` on this very checkpoint) or are null.
    """
    checkpoint_path = checkpoint.resolve_checkpoint(checkpoint_path)
    state = checkpoint.load(checkpoint_path)
    task = TASKS[state['task']](state['config'])
    metrics = read_metrics(metrics_path, checkpoint_path) if metrics_path else None
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: value.detach().cpu().contiguous() for name, value in state['model'].items()},
              out_path)
    manifest = {
        'format_version': FORMAT_VERSION, 'task': task.name,
        'architecture': task.model_class.__name__, 'model_kwargs': task.model_kwargs(),
        'config': state['config'], 'data': task.data_description(), 'metrics': metrics,
        'step': state['step'], 'code_revision': code_revision(),
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'weights_file': out_path.name, 'weights_sha256': file_sha256(out_path)}
    manifest_path(out_path).write_text(json.dumps(manifest, indent=2) + '\n')
    return manifest


def load_exported(weights_path):
    """Return (state_dict, manifest) of exported weights of any task (see runtime.weights)."""
    return weights.load_exported(weights_path, ARCHITECTURES)


def build_exported(weights_path, device='cpu'):
    """Return (model in eval mode on ``device``, manifest) of exported weights of any task."""
    return weights.build_exported(weights_path, device, ARCHITECTURES)
