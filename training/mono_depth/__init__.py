"""Monocular metric depth (seed 002): data, augmentation, losses, evaluation and the task."""
