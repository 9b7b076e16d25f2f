"""
Load published weights: a safetensors file plus the JSON manifest beside it (same stem).

The manifest (written by ``python -m training export``) names the architecture and its
constructor kwargs, the training command's config, data and metrics, and the sha256 of the
weights.  Weights are never unpickled: safetensors holds tensors only.
"""

import hashlib
import json
from pathlib import Path

from safetensors.torch import load_file

from rgbd_perception.models import ARCHITECTURES

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


def manifest_path(weights_path):
    """Return the manifest path of ``weights_path``: the same name with a .json suffix."""
    return Path(weights_path).with_suffix('.json')


def load_exported(weights_path, architectures=None):
    """
    Return (state_dict, manifest) of exported weights after validating the manifest.

    architectures: {class name: class} the manifest may name (default: the runtime's
    rgbd_perception.models.ARCHITECTURES).  Raise ExportError when the weights or manifest
    are missing, the manifest lacks a key of MANIFEST_KEYS, names an unknown architecture,
    or its sha256 does not match the weights.
    """
    architectures = ARCHITECTURES if architectures is None else architectures
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
    if manifest['architecture'] not in architectures:
        raise ExportError(f'manifest {manifest_file}: unknown architecture '
                          f"{manifest['architecture']!r}, known: {sorted(architectures)}")
    sha256 = file_sha256(weights_path)
    if sha256 != manifest['weights_sha256']:
        raise ExportError(f'{weights_path}: sha256 {sha256} does not match the manifest '
                          f"({manifest['weights_sha256']}); the weights were modified")
    return load_file(weights_path), manifest


def build_exported(weights_path, device='cpu', architectures=None):
    """Return (model in eval mode on ``device``, manifest) of validated exported weights."""
    architectures = ARCHITECTURES if architectures is None else architectures
    state_dict, manifest = load_exported(weights_path, architectures)
    model = architectures[manifest['architecture']](**manifest['model_kwargs'])
    model.load_state_dict(state_dict)
    return model.to(device).eval(), manifest
