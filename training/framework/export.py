"""
Published weights: a safetensors file plus a JSON manifest beside it (weights.json).

The manifest names the architecture and its constructor kwargs, the task, the resolved
config, the training data, evaluation metrics, the code revision and state of the working
tree at export (code_revision, code_dirty), the creation time, the sha256 of the weights file
and ``provenance``: the recipe (the top-level command reproducing the weights, e.g.
``scripts/train_pose demo``), the training runs' commands (with their code revision and
state), the sha256 of the initial weights (see training.framework.provenance) and the export
command.  Commands write it, never hands: ``export``, ``runtime`` (the ``runtime`` block of
settings chosen after training, e.g. completion's downsample), ``onnx`` (the ``onnx`` block:
the ONNX file exported beside the weights) and ``manifest --upgrade`` (format 1 to 2); each
writes it atomically with its settings_sha256
(rgbd_perception.runtime.weights, which also loads and validates it).
"""

from datetime import datetime, timezone
import json
from pathlib import Path

from safetensors.torch import save_file

from rgbd_perception.runtime import weights
from rgbd_perception.runtime.onnx_models import export_onnx
from rgbd_perception.runtime.weights import (ExportError, file_sha256, FORMAT_VERSION,
                                             manifest_path, settings_sha256, UNKNOWN)
from training.framework import checkpoint
from training.framework.config import default_config, flatten, merge_stored
from training.framework.provenance import initial_weights, invocation, UNRECORDED
from training.framework.tasks import ARCHITECTURES, TASKS


def read_report(metrics_path, sha256, what):
    """Return the report of an eval metrics.json, checking it was computed on ``sha256``."""
    report = json.loads(Path(metrics_path).read_text())
    if report.get('source', {}).get('sha256') != sha256:
        raise ExportError(f'{metrics_path} was not computed on {what}')
    return report


def write_manifest(weights_path, manifest):
    """Write ``manifest`` with its settings_sha256 beside ``weights_path``, atomically."""
    manifest = {**manifest, 'settings_sha256': settings_sha256(manifest)}
    text = json.dumps(manifest, indent=2) + '\n'
    checkpoint.replace_atomically(manifest_path(weights_path),
                                  lambda temp: Path(temp).write_text(text))
    return manifest


def export_checkpoint(checkpoint_path, out_path, metrics_path=None, recipe=None, argv=None):
    """
    Write the model weights of a checkpoint (file or run dir) to ``out_path`` (.safetensors).

    The manifest goes beside it (see manifest_path) and is returned; its metrics come from
    ``metrics_path`` (a metrics.json written by `eval` on this very checkpoint) or are null.
    recipe: the command reproducing the weights from scratch (None: not given); argv: the
    ``python -m training`` arguments of this export (None: called from Python).
    """
    checkpoint_path = checkpoint.resolve_checkpoint(checkpoint_path)
    state = checkpoint.load(checkpoint_path)
    task = TASKS[state['task']](state['config'])
    metrics = (read_report(metrics_path, file_sha256(checkpoint_path),
                           f'checkpoint {checkpoint_path}')['metrics'] if metrics_path else None)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: value.detach().cpu().contiguous()
               for name, value in task.exported_tensors(state['model']).items()}
    checkpoint.replace_atomically(out_path, lambda temp: save_file(tensors, temp))
    export = invocation(argv)
    trained = state.get('provenance', UNRECORDED)
    return write_manifest(out_path, {
        'format_version': FORMAT_VERSION, 'task': task.name,
        'architecture': task.model_class.__name__, 'model_kwargs': task.exported_model_kwargs(),
        'config': state['config'], 'data': task.data_description(), 'metrics': metrics,
        'step': state['step'], 'code_revision': export['code_revision'],
        'code_dirty': export['code_dirty'],
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'weights_file': out_path.name, 'weights_sha256': file_sha256(out_path),
        'provenance': {'recipe': recipe, **trained, 'export': export['command']}})


def require_current_format(manifest, weights_path):
    """Raise ExportError unless the manifest of ``weights_path`` is of FORMAT_VERSION."""
    if manifest['format_version'] != FORMAT_VERSION:
        raise ExportError(f'{manifest_path(weights_path)} is of format '
                          f"{manifest['format_version']}: upgrade it first with "
                          '`python -m training manifest --upgrade`')


def write_runtime(weights_path, downsample, chosen_by, metrics_paths=(), argv=None):
    """
    Set the ``runtime`` block of exported weights' manifest and re-hash it; return it.

    The block: the settings the runtime applies (downsample: completion's working-size
    factor, read by rgbd_perception.stages.completion.manifest_downsample), ``chosen_by`` (how
    they were chosen), ``evaluations`` (of each eval metrics.json computed on these weights:
    its source, the eval settings that differ from the weights' config and its metrics) and
    this command with its code revision and state.  A block already there is replaced.
    """
    _, manifest = load_exported(weights_path)
    require_current_format(manifest, weights_path)
    trained = flatten(merge_stored(default_config(TASKS[manifest['task']].config_name),
                                   manifest['config']))
    evaluations = []
    for path in metrics_paths:
        report = read_report(path, manifest['weights_sha256'], weights_path)
        evaluated = flatten(report.get('config', {}))
        evaluations.append({'source': report['source'], 'settings': {
            key: value for key, value in evaluated.items() if trained.get(key) != value},
            'metrics': report['metrics']})
    runtime = {'downsample': int(downsample), 'chosen_by': chosen_by,
               'evaluations': evaluations, 'written_by': invocation(argv)}
    return write_manifest(weights_path, {**manifest, 'runtime': runtime})['runtime']


def write_onnx(weights_path, argv=None):
    """
    Export weights to ONNX beside them (same stem, .onnx) and record it in their manifest.

    The manifest's ``onnx`` block (replaced when there is one) is the export's record (file,
    sha256, opset, versions, largest difference from torch; see
    rgbd_perception.runtime.onnx_models.export_onnx) and this command; the runtimes
    ``onnxruntime`` and ``openvino`` then load that file.  Returns the block.
    """
    model, manifest = build_exported(weights_path)
    require_current_format(manifest, weights_path)
    record = export_onnx(model, Path(weights_path).with_suffix('.onnx'))
    onnx = {**record, 'written_by': invocation(argv)}
    return write_manifest(weights_path, {**manifest, 'onnx': onnx})['onnx']


def upgrade_manifest(weights_path, recipe, argv=None):
    """
    Rewrite the format 1 manifest of exported weights as format 2, the weights untouched.

    What format 1 did not record is UNKNOWN: the working tree's state at export, the
    training and export commands and the sha256 of each initial weight file the config names
    (the file may have changed or gone since).  recipe: the command that reproduces the
    recorded config now (e.g. 'scripts/train_pose demo').  A ``runtime`` block, edited in by
    hand in format 1, is dropped: write it again with write_runtime (`runtime` command).
    Returns (the new manifest, the dropped runtime block or None).
    """
    _, manifest = load_exported(weights_path)
    if manifest['format_version'] != 1:
        raise ExportError(f'{manifest_path(weights_path)} is already of format '
                          f"{manifest['format_version']}")
    upgraded = write_manifest(weights_path, {
        **{key: value for key, value in manifest.items() if key != 'runtime'},
        'format_version': FORMAT_VERSION, 'code_dirty': UNKNOWN,
        'provenance': {'recipe': recipe, **UNRECORDED,
                       'init_weights': initial_weights(manifest['config'], lambda path: UNKNOWN),
                       'export': UNKNOWN, 'upgraded_by': invocation(argv)}})
    return upgraded, manifest.get('runtime')


def load_exported(weights_path):
    """Return (state_dict, manifest) of exported weights of any task (see runtime.weights)."""
    return weights.load_exported(weights_path, ARCHITECTURES)


def build_exported(weights_path, device='cpu'):
    """Return (model in eval mode on ``device``, manifest) of exported weights of any task."""
    return weights.build_exported(weights_path, device, ARCHITECTURES)
