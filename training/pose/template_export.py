"""
``python -m training templates``: the template bank of exported pose weights.

It embeds the training crops of the weights' own config (data.train_dirs) with those weights;
the pose stage's ``rotation_source='nearest_neighbour'`` then reads the bank beside the weights.
"""

from rgbd_perception.stages.pose_templates import save_templates
from training.framework.config import default_config, merge, resolve_config
from training.framework.export import build_exported, ExportError
from training.framework.tasks import TASKS
from training.pose.templates import build_templates


def write_templates(weights_path, out_path, overrides=()):
    """
    Embed the training crops of exported pose weights and write the bank to ``out_path``.

    overrides: 'key=value' changes of the weights' stored config (e.g. data.train_dirs).
    Returns the number of templates.
    """
    model, manifest = build_exported(weights_path)
    task_class = TASKS[manifest['task']]
    if manifest['architecture'] != 'PoseNet':
        raise ExportError(f'{weights_path}: templates need PoseNet weights, not '
                          f"{manifest['architecture']}")
    config = resolve_config(merge(default_config(task_class.config_name), manifest['config']),
                            None, overrides)
    bank = build_templates(model, task_class(config).train_dataset(), 'cpu')
    save_templates(out_path, bank.embedding, bank.rotation, bank.head,
                   manifest['weights_sha256'])
    return len(bank.head)
