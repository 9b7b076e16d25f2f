"""Depth completion by Vanishing Depth: data, randomisation, loss, evaluation and the task."""
