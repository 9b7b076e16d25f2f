"""
What the trainer needs from a model's task: its model, data, loss and evaluation.

A task is constructed from the resolved config, or from one a checkpoint or manifest stored:
keys added to the task's defaults since then take their default value (the defaults are the
schema, see training.framework.config).  Its ``model`` config section holds the model
constructor's keyword arguments, to which model_kwargs() may add derived ones (the result is
what an export manifest records).  Datasets
return dicts of tensors; the trainer moves them to the device.  For bit-identical resumes,
any per-sample randomness must be derived from the sample index and ``epoch`` (not from a
running random state), because an interrupted epoch restarts at its next batch.
"""

import abc

from training.framework.config import default_config, with_defaults


class Task(abc.ABC):
    """
    A trainable model with its data; subclasses set the class attributes below.

    name: registry key and CLI subcommand; config_name: its defaults file in
    training/configs/; model_class: the torch.nn.Module it trains.
    """

    name = None
    config_name = None
    model_class = None

    def __init__(self, config):
        self.config = with_defaults(config, default_config(self.config_name))
        self.progress = 0.0

    def set_progress(self, step, steps):
        """Record the share of training done (step of steps) before each step, for curricula."""
        self.progress = step / steps

    def model_kwargs(self):
        """Return the model constructor's keyword arguments (export manifests record them)."""
        return dict(self.config['model'])

    def build_model(self):
        """Return a new model: model_class(**model_kwargs())."""
        return self.model_class(**self.model_kwargs())

    def exported_model_kwargs(self):
        """Return the keyword arguments of the exported model (default: model_kwargs())."""
        return self.model_kwargs()

    def exported_tensors(self, state_dict):
        """Return the tensors an export writes of a trained state_dict (default: all)."""
        return state_dict

    @abc.abstractmethod
    def train_dataset(self):
        """Return the training torch.utils.data.Dataset (items: dicts of tensors)."""

    def train_mix(self, dataset):
        """
        Return the training.framework.mixing.Mix of the training dataset, or None.

        None (the default): every sample equally often.  Tasks with several training sources
        return the mix of their config's data.train_weights.
        """
        return None

    @abc.abstractmethod
    def eval_dataset(self):
        """Return the evaluation torch.utils.data.Dataset (items: dicts of tensors)."""

    @abc.abstractmethod
    def data_description(self):
        """Return a JSON-serialisable dict describing the training data (for the manifest)."""

    @abc.abstractmethod
    def loss(self, model, batch):
        """Return the scalar training loss of ``model`` on ``batch`` (dict of device tensors)."""

    @abc.abstractmethod
    def evaluate(self, model, device, out_dir):
        """
        Evaluate ``model`` (eval mode, on ``device``) on eval_dataset(); return its metrics.

        Writes the task's PNG plots into the directory ``out_dir`` (a pathlib.Path) and
        returns a JSON-serialisable dict.
        """
