"""
SimSiam on RGB + HHA (seed 000; Chen & He 2021): self-supervised object representations.

One torchvision trunk per branch ('rgb', 'hha'; build_trunk, ResNet-18 in the seed) maps its
(B, 3, H, W) image to (B, 512) pooled features; the branches' features are concatenated (the
seed lays the two backbones side by side) and pass a 3-layer projector (Linear-BN-ReLU twice,
Linear then BatchNorm without affine) to z, and a bottleneck predictor (dim -> pred_dim -> dim)
to p.  The loss is the symmetric negative cosine with stop-gradient on z
(:func:`simsiam_loss`).  Only the trunks matter after pre-training: :meth:`SimSiamRGBD.features`
gives the frozen representation a linear probe or a pose network uses.

Inputs are RGB / HHA images in [0, 1], scaled inside by ImageNet's mean and std (HHA is
three 8-bit channels like colour, so it is scaled alike).
"""

import torch
from torch import nn
import torch.nn.functional as F

from rgbd_perception.models.backbones import build_trunk, INPUT_SCALINGS

BRANCHES = ('rgb', 'hha')


def _projector(in_dim, dim):
    """Return SimSiam's projection MLP: in_dim -> dim -> dim -> dim, last BN without affine."""
    return nn.Sequential(
        nn.Linear(in_dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True),
        nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True),
        nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim, affine=False))


def _predictor(dim, pred_dim):
    """Return SimSiam's bottleneck prediction MLP: dim -> pred_dim -> dim."""
    return nn.Sequential(nn.Linear(dim, pred_dim, bias=False), nn.BatchNorm1d(pred_dim),
                         nn.ReLU(inplace=True), nn.Linear(pred_dim, dim))


def simsiam_loss(p1, p2, z1, z2):
    """Return -(cos(p1, sg(z2)) + cos(p2, sg(z1))) / 2 averaged over the batch (in [-1, 1])."""
    return -0.5 * (F.cosine_similarity(p1, z2.detach(), dim=1).mean()
                   + F.cosine_similarity(p2, z1.detach(), dim=1).mean())


class SimSiamRGBD(nn.Module):
    """
    SimSiam with one trunk per branch; branches ('rgb',), ('hha',) or ('rgb', 'hha').

    backbone: a rgbd_perception.models.backbones name (seed: 'resnet18'); dim: projector
    width and output (2048); pred_dim: predictor bottleneck (512); heads: False builds the
    trunks only (exported weights: the projector and predictor serve pre-training alone).
    """

    def __init__(self, branches=BRANCHES, backbone='resnet18', dim=2048, pred_dim=512,
                 heads=True):
        super().__init__()
        branches = tuple(branches)
        if not branches or set(branches) - set(BRANCHES) or len(set(branches)) != len(branches):
            raise ValueError(f'branches must be distinct names out of {BRANCHES}, got {branches}')
        self.branches = branches
        trunks = {branch: build_trunk(backbone) for branch in branches}
        self.trunks = nn.ModuleDict({branch: trunk for branch, (trunk, _) in trunks.items()})
        self.feature_dim = sum(width for _, width in trunks.values())
        self.projector = _projector(self.feature_dim, dim) if heads else None
        self.predictor = _predictor(dim, pred_dim) if heads else None
        mean, std = INPUT_SCALINGS['imagenet']
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def branch_features(self, images, branch):
        """Return (B, width) features of one branch's (B, 3, H, W) images in [0, 1]."""
        return self.trunks[branch]((images - self.mean) / self.std)

    def features(self, views, branches=None):
        """
        Return (B, F) concatenated trunk features of ``views`` ({branch: (B, 3, H, W)}).

        branches: the subset to use, in this model's order (default: all of them).
        """
        chosen = self.branches if branches is None else tuple(
            b for b in self.branches if b in branches)
        return torch.cat([self.branch_features(views[b], b) for b in chosen], dim=1)

    def forward(self, view1, view2):
        """Return p1, p2, z1, z2 ((B, dim) each) of two augmented views (dicts as features)."""
        z1 = self.projector(self.features(view1))
        z2 = self.projector(self.features(view2))
        return self.predictor(z1), self.predictor(z2), z1, z2
