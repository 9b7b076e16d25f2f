"""
Evaluation of depth completion against IP-Basic at fixed removal rates (Koch et al. 2025).

A frame's valid input depth loses a given share of its pixels under a seeded Perlin mask; the
learned model (through the runtime's complete_depth, as the node runs it) and IP-Basic fill
the holes; both are scored on the removed pixels against the target depth (the exact depth of
synthetic frames, the removed measurements of real ones).  Metrics pool the removed pixels
of all frames (training.metrics.depth_metrics); rmse_ratio = model RMSE / IP-Basic RMSE.
"""

import numpy as np
import torch

from rgbd_perception.geometry.ip_basic import ip_basic_complete
from rgbd_perception.stages.completion import complete_depth
from training.completion.masks import perlin_noise, removal_mask
from training.metrics import depth_metrics

METHODS = ('model', 'ip_basic')


def perlin_removal(depth, fraction, seed):
    """Return the (H, W) bool mask removing ``fraction`` of the valid ``depth`` (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = depth.shape
    noise = perlin_noise(1, height, width, base_cells=2, generator=generator)
    valid = torch.from_numpy(depth > 0)[None, None]
    return removal_mask(noise, valid, torch.tensor([fraction]))[0, 0].numpy()


def complete(method, model, rgb, depth, device, downsample):
    """Return (H, W) float32 metres completed by 'model' or 'ip_basic' (measurements kept)."""
    if method == 'ip_basic':
        return np.where(depth > 0, depth, ip_basic_complete(depth))
    rgb_tensor = torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float() / 255
    depth_tensor = torch.from_numpy(depth.astype(np.float32)).to(device)[None, None]
    with torch.no_grad():
        return complete_depth(model, rgb_tensor, depth_tensor, downsample)[0, 0].cpu().numpy()


def evaluate_removal(frames, fractions, model, device, downsample=2, seed=0, repeats=1):
    """
    Score model and IP-Basic on ``frames`` at each removal fraction.

    frames: list of (name, rgb (H, W, 3) uint8, input depth, target depth (H, W) float32 m).
    repeats: masks per frame and fraction (seeds differ).  Returns ({'removal_<pct>':
    {'model': metrics, 'ip_basic': metrics, 'rmse_ratio': float}}, examples) where examples
    holds, per fraction, (rgb, input with holes, model, ip_basic, target) of the first frame.
    """
    results, examples = {}, {}
    for fraction in fractions:
        predictions = {method: [] for method in METHODS}
        targets, masks = [], []
        for frame_index, (_, rgb, depth, target) in enumerate(frames):
            for repeat in range(repeats):
                removed = perlin_removal(depth, fraction,
                                         seed + 1000 * frame_index + repeat)
                holed = np.where(removed, 0.0, depth).astype(np.float32)
                for method in METHODS:
                    predictions[method].append(complete(method, model, rgb, holed, device,
                                                        downsample))
                targets.append(target)
                masks.append(removed)
                if frame_index == 0 and repeat == 0:
                    examples[fraction] = (rgb, holed, predictions['model'][-1],
                                          predictions['ip_basic'][-1], target)
        entry = {method: depth_metrics(np.stack(predictions[method]), np.stack(targets),
                                       mask=np.stack(masks)) for method in METHODS}
        entry['rmse_ratio'] = entry['model']['rmse'] / entry['ip_basic']['rmse']
        results[f'removal_{round(100 * fraction)}'] = entry
    return results, examples


def plot_examples(examples, path):
    """Save one row per removal fraction: RGB, input, model, IP-Basic, target (PNG)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 2.2 * len(examples)))
    axes = figure.subplots(len(examples), 5, squeeze=False)
    for row, (fraction, (rgb, holed, model, baseline, target)) in enumerate(examples.items()):
        valid = target[target > 0]
        limits = {'vmin': float(valid.min()), 'vmax': float(valid.max())}
        panels = [(rgb, 'RGB', {}), (holed, f'input ({100 * fraction:.0f} % removed)', limits),
                  (model, 'model', limits), (baseline, 'IP-Basic', limits),
                  (target, 'target', limits)]
        for axis, (image, title, style) in zip(axes[row], panels):
            axis.imshow(image, **style)
            axis.set_title(title, fontsize=8)
            axis.axis('off')
    figure.savefig(path, dpi=70)
