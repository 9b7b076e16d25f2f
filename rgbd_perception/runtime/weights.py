"""
Load published weights: a safetensors file plus the JSON manifest beside it (same stem).

The manifest (written by ``python -m training export``) names the architecture and its
constructor kwargs, the training command's config, data and metrics, and the sha256 of the
weights.  Weights are never unpickled: safetensors holds tensors only.

Format 2 manifests also record how the weights were made (``code_dirty``, ``provenance``:
the recipe, the training and export commands, the sha256 of the initial weights) and
``settings_sha256``, the sha256 of the manifest's canonical JSON (see settings_sha256) less
SETTINGS_EXCLUDED: everything the weights and their use depend on, the ``runtime`` block of
``python -m training runtime`` included, so a hand edit is refused.  The hash detects
edits, not forgery: anyone can recompute it.  Format 1 manifests (no such fields) still load.
"""

import hashlib
import json
from pathlib import Path

from safetensors.torch import load_file

from rgbd_perception.models import ARCHITECTURES

FORMAT_VERSION = 2
MANIFEST_KEYS = ('format_version', 'task', 'architecture', 'model_kwargs', 'config', 'data',
                 'metrics', 'step', 'code_revision', 'created', 'weights_file', 'weights_sha256')
#: Keys a manifest of format 2 holds besides MANIFEST_KEYS.
PROVENANCE_KEYS = ('code_dirty', 'provenance', 'settings_sha256')
#: Top-level keys settings_sha256 does not cover: the hash itself and the time of writing.
SETTINGS_EXCLUDED = ('settings_sha256', 'created')
#: The value recorded where a fact of a manifest's making cannot be recovered.
UNKNOWN = 'unknown'


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


def settings_sha256(manifest):
    """
    Return the hex sha256 of ``manifest`` less SETTINGS_EXCLUDED as canonical JSON.

    Canonical: keys sorted, no whitespace, UTF-8; JSON numbers re-read give the same text.
    """
    settings = {key: value for key, value in manifest.items() if key not in SETTINGS_EXCLUDED}
    text = json.dumps(settings, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def check_keys(manifest, manifest_file):
    """
    Raise ExportError unless ``manifest`` (read from ``manifest_file``) has its format's keys.

    Format 1 needs MANIFEST_KEYS, format 2 PROVENANCE_KEYS too; other formats are refused.
    """
    version = manifest.get('format_version')
    if version not in (1, FORMAT_VERSION):
        raise ExportError(f'manifest {manifest_file}: unknown format_version {version!r} '
                          f'(this code reads 1 and {FORMAT_VERSION})')
    required = MANIFEST_KEYS + (PROVENANCE_KEYS if version == FORMAT_VERSION else ())
    missing = [key for key in required if key not in manifest]
    if missing:
        raise ExportError(f'manifest {manifest_file} lacks {", ".join(missing)}')


def load_exported(weights_path, architectures=None):
    """
    Return (state_dict, manifest) of exported weights after validating the manifest.

    architectures: {class name: class} the manifest may name (default: the runtime's
    rgbd_perception.models.ARCHITECTURES).  Raise ExportError when the weights or manifest
    are missing, the manifest lacks a key (check_keys), names an unknown architecture, its
    sha256 does not match the weights or (format 2) its settings_sha256 its contents.
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
    check_keys(manifest, manifest_file)
    if manifest['architecture'] not in architectures:
        raise ExportError(f'manifest {manifest_file}: unknown architecture '
                          f"{manifest['architecture']!r}, known: {sorted(architectures)}")
    sha256 = file_sha256(weights_path)
    if sha256 != manifest['weights_sha256']:
        raise ExportError(f'{weights_path}: sha256 {sha256} does not match the manifest '
                          f"({manifest['weights_sha256']}); the weights were modified")
    if 'settings_sha256' in manifest and manifest['settings_sha256'] != settings_sha256(manifest):
        raise ExportError(f'manifest {manifest_file}: settings_sha256 does not match its '
                          'contents; it was edited by hand (runtime settings are written by '
                          '`python -m training runtime`)')
    return load_file(weights_path), manifest


def build_exported(weights_path, device='cpu', architectures=None):
    """Return (model in eval mode on ``device``, manifest) of validated exported weights."""
    architectures = ARCHITECTURES if architectures is None else architectures
    state_dict, manifest = load_exported(weights_path, architectures)
    model = architectures[manifest['architecture']](**manifest['model_kwargs'])
    model.load_state_dict(state_dict)
    return model.to(device).eval(), manifest
