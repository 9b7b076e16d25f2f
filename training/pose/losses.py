"""
Losses of the pose network (Doumanoglou et al. 2016; Khan 2025), on batches of crops.

* rotation regression: the representation's own distance for asymmetric objects (quaternion:
  sign-invariant min over +-q; 6D / 9D: squared Frobenius distance of the matrices) and, for
  symmetric ones, the shape-match distance (mean closest-point distance of the model points,
  over the diameter) which every symmetric pose minimises alike;
* feature-pose distance (Doumanoglou et al. 2016): over same-object pairs of the batch,
  (|f_i - f_j|^2 - d(q_i, q_j))^2 with d = 2 min |q_i -+ q_j|^2 in [0, 4] like |f_i - f_j|^2;
* occlusion (Doumanoglou et al. 2016): |f(occluded) - f(clean)|^2 of the same crop;
* visible mask: binary cross-entropy of the mask head's logits against the share of each
  crop pixel where the object is visible (synthetic occluders' pixels count as hidden);
* relative-viewpoint contrast (Khan 2025): InfoNCE over cosine similarities, each crop's
  positive its near-view partner, other crops of the same object within ``near_degrees`` of
  it left out of the negatives.
"""

import roma
import torch
import torch.nn.functional as F


def quaternion_distance(a, b):
    """Return (...,) min(|a - b|^2, |a + b|^2) of unit quaternions (sign-invariant)."""
    return torch.minimum((a - b).pow(2).sum(-1), (a + b).pow(2).sum(-1))


def rotation_regression_loss(raw, rotation, target, representation, symmetric, points,
                             diameters):
    """
    Return the mean rotation loss of a batch (see the module docstring).

    raw: (B, D) head outputs of each crop's object; rotation: (B, 3, 3) their rotations;
    target: (B, 3, 3); symmetric: (B,) bool; points: (B, P, 3) model points (m) of each
    crop's object; diameters: (B,) metres.
    """
    if representation == 'quaternion':
        asymmetric = quaternion_distance(F.normalize(raw, dim=-1),
                                         roma.rotmat_to_unitquat(target))
    else:
        asymmetric = (rotation - target).pow(2).sum(dim=(-1, -2))
    predicted = points @ rotation.transpose(-1, -2)
    true = points @ target.transpose(-1, -2)
    closest = torch.cdist(true, predicted).min(dim=2).values.mean(dim=1)
    shape_match = (closest / diameters).pow(2)
    return torch.where(symmetric, shape_match, asymmetric).mean()


def feature_pose_loss(embedding, rotation, index, symmetric):
    """
    Return the mean of (|f_i - f_j|^2 - d(q_i, q_j))^2 over same-object asymmetric pairs.

    embedding: (B, E) unit features; rotation: (B, 3, 3) true rotations; index: (B,) object
    index; symmetric: (B,) bool (symmetric objects have no unique pose distance).  0 without
    such pairs.
    """
    quaternions = roma.rotmat_to_unitquat(rotation)
    feature = torch.cdist(embedding, embedding).pow(2)
    pose = 2.0 * quaternion_distance(quaternions[:, None], quaternions[None])
    pairs = (index[:, None] == index[None]) & ~symmetric[:, None] & ~symmetric[None]
    pairs &= ~torch.eye(len(index), dtype=torch.bool, device=index.device)
    if not pairs.any():
        return embedding.sum() * 0.0
    return (feature - pose)[pairs].pow(2).mean()


def occlusion_loss(occluded, clean):
    """Return the mean |f(occluded) - f(clean)|^2 of (B, E) embeddings of the same crops."""
    return (occluded - clean).pow(2).sum(dim=1).mean()


def visible_mask_loss(logits, visible):
    """Return the mean BCE of (B, 1, S, S) mask logits against (B, S, S) visible shares."""
    return F.binary_cross_entropy_with_logits(logits[:, 0], visible)


def viewpoint_contrastive_loss(anchor, positive, anchor_rotation, positive_rotation,
                               anchor_index, positive_index, temperature=0.1,
                               near_degrees=20.0):
    """
    Return the InfoNCE loss of (B, E) unit anchors against their (B, E) near-view partners.

    Candidates for anchor i are all positives; positive j != i counts as a negative unless
    it shows the same object within near_degrees of anchor i (a near view, not a negative).
    """
    logits = anchor @ positive.T / temperature
    angles = torch.rad2deg(roma.rotmat_geodesic_distance(
        anchor_rotation[:, None], positive_rotation[None]))
    near = (anchor_index[:, None] == positive_index[None]) & (angles < near_degrees)
    near.fill_diagonal_(False)
    logits = logits.masked_fill(near, float('-inf'))
    targets = torch.arange(len(anchor), device=anchor.device)
    return F.cross_entropy(logits, targets)
