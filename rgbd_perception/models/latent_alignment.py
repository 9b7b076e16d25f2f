"""
Latent alignment between the RGB and RGB-D autoencoders of monocular depth (seed 002, §7).

Each variant maps an encoder's (B, C, h, w) latent to what its decoder sees and, in training,
returns the alignment loss that pulls the RGB latent towards the RGB-D one (the RGB-D branch
sees sparse depth, so its latent is the better-informed target):

- 'none': no coupling (the two branches train side by side);
- 'mse': mean squared difference of the latents, RGB-D latent detached (a teacher);
- 'coral': CORAL (Sun & Saenko 2016), ||C_rgb - C_rgbd||_F^2 / (4 C^2) with C_* the
  (C, C) covariance of the channel vectors of every latent cell of the batch;
- 'spatial': a CBAM-style sigmoid map (B, 1, h, w) from each branch's latent multiplies the
  RGB latent; the maps are pulled together by MSE, so only h * w values carry depth cues;
- 'relative' / 'relative_mse': relative representations (Moschella et al. 2023): the cosine
  similarity of every cell to a learned global set of C anchors; with '_mse' the RGB one,
  after a 1x1 conv, is pulled to the RGB-D one by MSE;
- 'rotation': global point-cloud rotations, the thesis's contribution: the latent is read as
  a cloud of (h * w * C / d) points in R^d, the rotation taking the RGB cloud onto the RGB-D
  cloud is found by orthogonal Procrustes (RoMa special_procrustes) and a PointNet-style
  head learns to predict it from the RGB cloud alone; the loss is the MSE between the RGB
  cloud rotated by the predicted and by the Procrustes rotation.

In 'rotation' the RGB-D decoder decodes the *RGB* latent rotated by the Procrustes rotation
(the RGB-D cloud itself is never decoded, thesis §7.8), so zero-shot stitching (RGB encoder,
RGB-D decoder) is meaningful.
"""

import roma
import torch
from torch import nn
import torch.nn.functional as F

ALIGNMENTS = ('none', 'mse', 'coral', 'spatial', 'relative', 'relative_mse', 'rotation')


def latent_points(latent, dim):
    """Return (B, h * w * C / dim, dim) points of a (B, C, h, w) latent (C divisible by dim)."""
    batch, channels = latent.shape[:2]
    if channels % dim:
        raise ValueError(f'latent channels {channels} are not divisible by d = {dim}')
    return latent.permute(0, 2, 3, 1).reshape(batch, -1, dim)


def points_latent(points, shape):
    """Return the (B, C, h, w) latent of latent_points' (B, N, d) points; shape: (B, C, h, w)."""
    batch, channels, height, width = shape
    return points.reshape(batch, height, width, channels).permute(0, 3, 1, 2)


def procrustes_rotation(source, target):
    """
    Return (B, d, d) rotations R minimising sum ||R s_i - t_i||^2 over (B, N, d) point pairs.

    Orthogonal Procrustes without centring or scale (a rotation of the latent space about
    its origin); R = special_procrustes(sum t_i s_i^T), det R = +1.
    """
    return special_rotation(torch.einsum('bni,bnj->bij', target.float(), source.float()))


def special_rotation(matrix):
    """
    Return the (B, d, d) rotations nearest to (B, d, d) matrices (RoMa special_procrustes).

    By SVD for every d: RoMa's quaternion path for d = 3 caches a tensor on first use, which
    breaks autograd when that use was under torch.inference_mode.
    """
    return roma.special_procrustes(matrix, method='svd')


def rotate(points, rotation):
    """Return (B, N, d) points rotated by (B, d, d) rotations (R p for every point p)."""
    return points @ rotation.transpose(1, 2)


def coral_loss(source, target):
    """
    Return the CORAL loss ||C_s - C_t||_F^2 / (4 C^2) of two (B, C, h, w) latents.

    The covariances are over the channel vectors of all B * h * w latent cells.
    """
    def covariance(latent):
        cells = latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1]).float()
        cells = cells - cells.mean(dim=0, keepdim=True)
        return cells.T @ cells / max(len(cells) - 1, 1)

    channels = source.shape[1]
    return (covariance(source) - covariance(target)).pow(2).sum() / (4 * channels ** 2)


class RotationHead(nn.Module):
    """
    PointNet-style regressor: (B, N, d) points -> (B, d, d) rotation.

    A shared per-point MLP, max pooling over points, an MLP to a d x d matrix (starting near
    the identity) projected onto SO(d) by special Procrustes.
    """

    def __init__(self, dim, width=128):
        super().__init__()
        self.dim = dim
        self.points = nn.Sequential(nn.Linear(dim, width // 2), nn.GELU(),
                                    nn.Linear(width // 2, width), nn.GELU(),
                                    nn.Linear(width, 2 * width))
        self.matrix = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(),
                                    nn.Linear(width, dim * dim))
        nn.init.zeros_(self.matrix[-1].weight)
        nn.init.zeros_(self.matrix[-1].bias)

    def forward(self, points):
        pooled = self.points(points.float()).amax(dim=1)
        matrix = self.matrix(pooled).view(-1, self.dim, self.dim)
        return special_rotation(matrix + torch.eye(self.dim, device=points.device))


class SpatialMap(nn.Module):
    """CBAM spatial attention: (B, C, h, w) -> (B, 1, h, w) sigmoid weights (7x7 conv)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, latent):
        pooled = torch.cat([latent.mean(dim=1, keepdim=True), latent.amax(dim=1, keepdim=True)],
                           dim=1)
        return torch.sigmoid(self.conv(pooled))


class LatentAlignment(nn.Module):
    """
    One alignment variant (see the module docstring) between (B, C, h, w) latents.

    rgb(latent) -> what the RGB decoder decodes (inference path); pair(rgb_latent,
    rgbd_latent) -> (RGB decoder input, RGB-D decoder input, stitched input for the RGB-D
    decoder from the RGB side alone, alignment loss scalar).
    """

    def __init__(self, kind='rotation', channels=192, rotation_dim=3):
        super().__init__()
        if kind not in ALIGNMENTS:
            raise ValueError(f'unknown latent alignment {kind!r}, expected one of {ALIGNMENTS}')
        self.kind, self.rotation_dim = kind, int(rotation_dim)
        if kind == 'rotation':
            latent_points(torch.zeros(1, channels, 1, 1), self.rotation_dim)  # checks C % d
            self.head = RotationHead(self.rotation_dim)
        elif kind == 'spatial':
            self.rgb_map, self.rgbd_map = SpatialMap(), SpatialMap()
        elif kind.startswith('relative'):
            self.anchors = nn.Parameter(torch.randn(channels, channels))
            self.rgb_mix = nn.Conv2d(channels, channels, 1)

    def _relative(self, latent):
        cells = F.normalize(latent, dim=1)
        return torch.einsum('bchw,cn->bnhw', cells, F.normalize(self.anchors, dim=0))

    def rgb(self, latent):
        """Return the RGB decoder's (B, C, h, w) input for an RGB latent."""
        if self.kind == 'rotation':
            points = latent_points(latent, self.rotation_dim)
            return points_latent(rotate(points, self.head(points)), latent.shape)
        if self.kind == 'spatial':
            return latent * self.rgb_map(latent)
        if self.kind.startswith('relative'):
            return self.rgb_mix(self._relative(latent))
        return latent

    def pair(self, rgb_latent, rgbd_latent):
        """Return (RGB decoder input, RGB-D decoder input, stitched input, alignment loss)."""
        zero = rgb_latent.new_zeros(())
        if self.kind == 'rotation':
            points = latent_points(rgb_latent, self.rotation_dim)
            target = procrustes_rotation(points.detach(),
                                         latent_points(rgbd_latent, self.rotation_dim))
            predicted = rotate(points, self.head(points))
            aligned = rotate(points.detach(), target)
            rgb = points_latent(predicted, rgb_latent.shape)
            return (rgb, points_latent(aligned, rgb_latent.shape), rgb,
                    F.mse_loss(predicted, aligned.detach()))
        if self.kind == 'spatial':
            rgb_map, rgbd_map = self.rgb_map(rgb_latent), self.rgbd_map(rgbd_latent)
            return (rgb_latent * rgb_map, rgb_latent * rgbd_map, rgb_latent * rgb_map,
                    F.mse_loss(rgb_map, rgbd_map.detach()))
        if self.kind.startswith('relative'):
            rgb, rgbd = self.rgb_mix(self._relative(rgb_latent)), self._relative(rgbd_latent)
            loss = F.mse_loss(rgb, rgbd.detach()) if self.kind == 'relative_mse' else zero
            return rgb, rgbd, rgb, loss
        if self.kind == 'mse':
            return rgb_latent, rgbd_latent, rgb_latent, F.mse_loss(rgb_latent,
                                                                   rgbd_latent.detach())
        if self.kind == 'coral':
            return rgb_latent, rgbd_latent, rgb_latent, coral_loss(rgb_latent, rgbd_latent)
        return rgb_latent, rgbd_latent, rgb_latent, zero
