"""
Training framework shared by every model: config, devices, checkpoints, logs, export.

``python -m training <task> --config cfg.yaml [key=value ...]`` trains a registered task
(see tasks.py); ``eval`` and ``export`` evaluate and publish its checkpoints.
"""
