"""Multi-scale balanced scale-invariant loss of Vanishing Depth (Koch et al. 2025, appendix C)."""

import torch
import torch.nn.functional as F

VARIANCE_FOCUS = 0.85  # lambda of the AdaBins form of Eigen's scale-invariant loss


def scale_invariant_log_loss(predicted, target, mask):
    """
    Return (B,) 10 * sqrt(mean g^2 - 0.85 (mean g)^2), g = log pred - log target over mask.

    predicted, target: (B, 1, H, W) metres; mask: (B, 1, H, W) bool.  Samples with an empty
    mask give 0.
    """
    weight = mask.to(predicted.dtype)
    count = weight.sum(dim=(1, 2, 3))
    g = (torch.log(predicted.clamp_min(1e-3)) - torch.log(target.clamp_min(1e-3))) * weight
    mean = g.sum(dim=(1, 2, 3)) / count.clamp_min(1)
    mean_square = (g * g).sum(dim=(1, 2, 3)) / count.clamp_min(1)
    value = (mean_square - VARIANCE_FOCUS * mean * mean).clamp_min(1e-8)
    return torch.where(count > 0, 10 * torch.sqrt(value), torch.zeros_like(value))


def balanced_loss(predicted, target, input_valid):
    """
    Return the mean over samples of the average of reconstruction and prediction SI losses.

    Reconstruction pixels: target valid and input valid; prediction pixels: target valid and
    input missing.  A sample lacking one kind uses only the other.
    """
    known = target > 0
    reconstruct = known & input_valid
    predict = known & ~input_valid
    losses = torch.stack([scale_invariant_log_loss(predicted, target, reconstruct),
                          scale_invariant_log_loss(predicted, target, predict)])
    present = torch.stack([reconstruct.flatten(1).any(1), predict.flatten(1).any(1)]).float()
    return ((losses * present).sum(0) / present.sum(0).clamp_min(1)).mean()


def multiscale_balanced_loss(predictions, target, input_valid):
    """
    Return the balanced loss averaged over every output scale (equal weights).

    predictions: list of (B, 1, h_i, w_i) metres; target and input_valid (B, 1, H, W) are
    resized to each scale by nearest-neighbour sampling.
    """
    total = 0.0
    for predicted in predictions:
        size = predicted.shape[-2:]
        scaled_target = F.interpolate(target, size=size, mode='nearest')
        scaled_valid = F.interpolate(input_valid.float(), size=size, mode='nearest') > 0.5
        total = total + balanced_loss(predicted, scaled_target, scaled_valid)
    return total / len(predictions)
