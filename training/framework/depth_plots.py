"""Plots of predicted against true depth maps (matplotlib's Agg canvas, PNG files)."""

from matplotlib.figure import Figure
import numpy as np

PLOTTED_FRAMES = 3


def plot_predictions(rgb, pred, gt, path):
    """
    Save a grid (RGB, ground truth, prediction, |error|) of the first frames to ``path``.

    rgb: (N, H, W, 3) float in [0, 1]; pred, gt: (N, H, W) float depth in metres.
    """
    rows = min(len(rgb), PLOTTED_FRAMES)
    figure = Figure(figsize=(10, 2.2 * rows))
    axes = figure.subplots(rows, 4, squeeze=False)
    vmin, vmax = float(gt.min()), float(gt.max())
    for row in range(rows):
        error = np.abs(pred[row] - gt[row])
        panels = [(rgb[row], 'RGB', {}), (gt[row], 'depth (m)', {'vmin': vmin, 'vmax': vmax}),
                  (pred[row], 'predicted (m)', {'vmin': vmin, 'vmax': vmax}),
                  (error, '|error| (m)', {'cmap': 'magma'})]
        for axis, (image, title, style) in zip(axes[row], panels):
            shown = axis.imshow(image, **style)
            axis.set_title(title, fontsize=8)
            axis.axis('off')
            if image.ndim == 2:
                figure.colorbar(shown, ax=axis, fraction=0.046)
    figure.savefig(path, dpi=80)


def plot_scatter(pred, gt, path):
    """Save a 2-D histogram of (N, H, W) predicted against true depth (metres) to ``path``."""
    figure = Figure(figsize=(4.5, 4))
    axis = figure.subplots()
    axis.hist2d(gt.ravel(), pred.ravel(), bins=60, cmin=1)
    limits = [float(gt.min()), float(gt.max())]
    axis.plot(limits, limits, 'r--', linewidth=1)
    axis.set_xlabel('true depth (m)')
    axis.set_ylabel('predicted depth (m)')
    figure.savefig(path, dpi=80)
