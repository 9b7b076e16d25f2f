"""
Evaluation of monocular depth: metric and median-scaled errors on held-out and real frames.

Frames run through the runtime's predict_image (as the node runs them) at the model's input
width.  Metrics (training.metrics.depth_metrics: AbsRel, RMSE, delta thresholds, ...) pool
the valid pixels up to MAX_DEPTH_M of all frames of a group, once without alignment (metric)
and once with each frame's prediction scaled by median(target) / median(prediction).  The
'constant' row (the same depth everywhere, median-scaled) is the floor a model must beat.
"""

import numpy as np

from rgbd_perception.stages.mono_depth import predict_image
from training.completion.data import real_sample_frames, slambook_kinect_frames
from training.metrics import depth_metrics

MAX_DEPTH_M = 10.0
#: fx (pixels) of the real sample frames whose depth is registered to colour: TUM and SUN
#: ship none (the PrimeSense default 525 is the usual stand-in), slambook's README gives 518.
#: NYU raw is left out: its depth is not registered to the colour image.
REAL_SAMPLE_FX = {'tum': 525.0, 'sun': 525.0, 'slambook_kinect': 518.0}


def real_mono_groups(root):
    """Return {sensor: [(name, rgb, depth (H, W) float32 m, fx)]} of the registered samples."""
    groups = {name: [(name, rgb, depth, REAL_SAMPLE_FX[name])]
              for name, rgb, depth in real_sample_frames(root) if name in REAL_SAMPLE_FX}
    slambook = slambook_kinect_frames(root)
    if slambook:
        groups['slambook_kinect'] = [(name, rgb, depth, REAL_SAMPLE_FX['slambook_kinect'])
                                     for name, rgb, depth in slambook]
    return groups


def evaluate_frames(frames, model, input_width):
    """
    Return {'metric', 'median_scaled', 'constant_median_scaled': metrics} over ``frames``.

    frames: [(name, rgb (H, W, 3) uint8, target (H, W) float32 m, 0 = missing, fx)].
    """
    predictions = np.stack([predict_image(model, rgb, fx, input_width)
                            for _, rgb, _, fx in frames])
    targets = np.stack([target for _, _, target, _ in frames])
    return {'metric': depth_metrics(predictions, targets, max_depth=MAX_DEPTH_M),
            'median_scaled': depth_metrics(predictions, targets, alignment='median',
                                           max_depth=MAX_DEPTH_M),
            'constant_median_scaled': depth_metrics(np.ones_like(targets), targets,
                                                    alignment='median',
                                                    max_depth=MAX_DEPTH_M)}
