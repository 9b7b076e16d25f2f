"""
Published weights: a safetensors file plus a JSON manifest beside it (weights.json).

The manifest names the architecture and its constructor kwargs, the task, the resolved
config, the training data, evaluation metrics, the code revision, the creation time and the
sha256 of the weights file.  load_exported() is what the runtime calls: it refuses weights
whose manifest is incomplete, whose architecture is unknown or whose bytes changed.
"""

from datetime import datetime, timezone
import hashlib
import json
from pathlib import Path
import subprocess

from safetensors.torch import load_file, save_file

from training.framework import checkpoint
from training.framework.tasks import ARCHITECTURES, TASKS

FORMAT_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_KEYS = ('format_version', 'task', 'architecture', 'model_kwargs', 'config', 'data',
                 'metrics', 'step', 'code_revision', 'created', 'weights_file', 'weights_sha256')


class ExportError(ValueError):
    """Raised for exported weights that are missing, incomplete, unknown or tampered with."""


def file_sha256(path):
    """Return the hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def code_revision():
    """Return `git rev-parse HEAD` of the repository holding this code, or 'unknown'."""
    try:
        result = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO_ROOT, text=True,
                                capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return result.stdout.strip() if result.returncode == 0 else 'unknown'


def manifest_path(weights_path):
    """Return the manifest path of ``weights_path``: the same name with a .json suffix."""
    return Path(weights_path).with_suffix('.json')


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
        'architecture': task.model_class.__name__, 'model_kwargs': state['config']['model'],
        'config': state['config'], 'data': task.data_description(), 'metrics': metrics,
        'step': state['step'], 'code_revision': code_revision(),
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'weights_file': out_path.name, 'weights_sha256': file_sha256(out_path)}
    manifest_path(out_path).write_text(json.dumps(manifest, indent=2) + '\n')
    return manifest


def load_exported(weights_path):
    """
    Return (state_dict, manifest) of exported weights after validating the manifest.

    Raise ExportError when the weights or manifest are missing, the manifest lacks a key of
    MANIFEST_KEYS, names an unknown architecture, or its sha256 does not match the weights.
    """
    weights_path = Path(weights_path)
    manifest_file = manifest_path(weights_path)
    for path in (weights_path, manifest_file):
        if not path.is_file():
            raise ExportError(f'exported weights incomplete: {path} not found')
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f'manifest {manifest_file} is not valid JSON: {exc}') from exc
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise ExportError(f'manifest {manifest_file} lacks {", ".join(missing)}')
    if manifest['architecture'] not in ARCHITECTURES:
        raise ExportError(f'manifest {manifest_file}: unknown architecture '
                          f"{manifest['architecture']!r}, known: {sorted(ARCHITECTURES)}")
    sha256 = file_sha256(weights_path)
    if sha256 != manifest['weights_sha256']:
        raise ExportError(f'{weights_path}: sha256 {sha256} does not match the manifest '
                          f"({manifest['weights_sha256']}); the weights were modified")
    return load_file(weights_path), manifest


def build_exported(weights_path, device='cpu'):
    """Return (model in eval mode on ``device``, manifest) of validated exported weights."""
    state_dict, manifest = load_exported(weights_path)
    model = ARCHITECTURES[manifest['architecture']](**manifest['model_kwargs'])
    model.load_state_dict(state_dict)
    return model.to(device).eval(), manifest
