"""
Registry of trainable tasks (CLI subcommand name -> Task class) and of their architectures.

Each task is trained by ``python -m training <name> --config cfg.yaml``.  ARCHITECTURES maps a
model class name (as written in export manifests) to the class.
"""

from training.completion.task import CompletionTask
from training.framework.toy_depth import ToyDepthTask
from training.mono_depth.task import MonoDepthTask
from training.pose.task import PoseSelfSupervisedTask, PoseTask
from training.simsiam.task import SimSiamTask

TASKS = {task.name: task for task in (ToyDepthTask, CompletionTask, PoseSelfSupervisedTask,
                                      PoseTask, MonoDepthTask, SimSiamTask)}
ARCHITECTURES = {task.model_class.__name__: task.model_class for task in TASKS.values()}
