"""
Run configuration: the task's default YAML, a user YAML file and dotted key=value overrides.

The defaults (training/configs/base.yaml plus the task's own file) are the schema: a key they
do not hold is an error naming it, and every value must have its default's type (a float key
also takes an int or a YAML-1.1 string such as '1e-3'; a null default takes anything).
"""

from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
BASE_CONFIG = CONFIG_DIR / 'base.yaml'
#: Keys removed from the defaults since configs were stored with them (checkpoints,
#: manifests): 'section.key' -> why merge_stored may drop them.
RETIRED_KEYS = {
    'pretrained.rgb_weights': 'completion initial weights (now pretrained.backbone_weights), '
                              'replaced by the stored model weights',
}


class ConfigError(ValueError):
    """Raised for an unreadable config file, an unknown key or a value of the wrong type."""


def read_yaml(path):
    """Return the mapping stored in the YAML file ``path`` (an empty file gives {})."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f'config file {path} is not valid YAML: {exc}') from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f'config file {path} must hold a mapping, not {type(data).__name__}')
    return data


def parse_override(text):
    """Return ('a.b.c', value) for the override 'a.b.c=value'; the value is parsed as YAML."""
    key, sep, raw = text.partition('=')
    if not sep or not key or any(not part for part in key.split('.')):
        raise ConfigError(f"override '{text}' is not of the form dotted.key=value")
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML: {exc}") from exc


def _checked_value(key, default, value):
    """Return ``value`` for ``key`` converted to the type of ``default``, or raise ConfigError."""
    if default is None or value is None:
        return value
    if isinstance(default, float) and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(default, bool) == isinstance(value, bool) and isinstance(
            value, type(default)):
        return value
    raise ConfigError(f'config key {key}: expected {type(default).__name__}, got '
                      f'{type(value).__name__} {value!r}')


def merge(config, updates, prefix=''):
    """
    Return ``config`` (nested dict) with the nested dict ``updates`` applied.

    Raise ConfigError naming the dotted key for a key ``config`` does not hold or a value whose
    type differs from the one it replaces.
    """
    merged = dict(config)
    for name, value in updates.items():
        key = f'{prefix}{name}'
        if name not in config:
            raise ConfigError(f'unknown config key: {key}')
        if isinstance(config[name], dict):
            if not isinstance(value, dict):
                raise ConfigError(f'config key {key}: expected a mapping, got {value!r}')
            merged[name] = merge(config[name], value, prefix=f'{key}.')
        else:
            merged[name] = _checked_value(key, config[name], value)
    return merged


def merge_stored(defaults, stored):
    """
    Return ``defaults`` updated by a config a checkpoint or manifest stored (see merge).

    Its RETIRED_KEYS are dropped first, so configs stored before their removal still load.
    """
    kept = {name: {key: value for key, value in section.items()
                   if f'{name}.{key}' not in RETIRED_KEYS}
            if isinstance(section, dict) else section for name, section in stored.items()}
    return merge(defaults, kept)


def nest(key, value):
    """Return the nested dict {'a': {'b': value}} for the dotted key 'a.b'."""
    for part in reversed(key.split('.')):
        value = {part: value}
    return value


def with_defaults(config, defaults):
    """
    Return ``config`` (nested dict) with every key it lacks taken from ``defaults``.

    For configs stored before a key was added (checkpoints, manifests): the new key takes its
    default, the behaviour such a run had.  Keys of ``config`` are kept as they are.
    """
    completed = dict(config)
    for name, default in defaults.items():
        if name not in completed:
            completed[name] = default
        elif isinstance(default, dict) and isinstance(completed[name], dict):
            completed[name] = with_defaults(completed[name], default)
    return completed


def default_config(task_config_name):
    """Return the defaults of a task: base.yaml updated by the task's file in CONFIG_DIR."""
    base = read_yaml(BASE_CONFIG)
    task = read_yaml(CONFIG_DIR / task_config_name)
    return {**base, **{name: (merge(base[name], value, f'{name}.')
                              if isinstance(base.get(name), dict) else value)
                       for name, value in task.items()}}


def resolve_config(defaults, config_file=None, overrides=()):
    """
    Return the resolved config: ``defaults``, then the YAML ``config_file``, then ``overrides``.

    ``overrides`` are 'dotted.key=value' strings applied in order.
    """
    config = defaults
    if config_file is not None:
        config = merge(config, read_yaml(config_file))
    for text in overrides:
        config = merge(config, nest(*parse_override(text)))
    return config


def flatten(config, prefix=''):
    """Return the nested dict ``config`` as {'dotted.key': value}."""
    flat = {}
    for name, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{name}.'))
        else:
            flat[f'{prefix}{name}'] = value
    return flat


def write_config(config, path):
    """Write the resolved ``config`` to ``path`` as YAML (keys in their defined order)."""
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
