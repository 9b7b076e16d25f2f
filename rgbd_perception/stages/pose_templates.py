"""
Rotation by nearest neighbour on learned features (template matching, Doumanoglou et al. 2016).

A template bank holds the unit embeddings f of training crops with their allocentric
rotations and object heads, computed with one exported PoseNet (``python -m training
templates``).  A crop takes the rotation of the template of its object whose embedding is
nearest (largest cosine).  The bank is a safetensors file (tensors only, never unpickled)
whose metadata names the sha256 of the weights it was computed with, so a bank cannot be used
with other weights by mistake.
"""

from pathlib import Path

import roma
from safetensors import safe_open
from safetensors.torch import save_file
import torch

from rgbd_perception.runtime.weights import ExportError


def templates_path(weights_path):
    """Return the default template bank of exported weights: <stem>_templates.safetensors."""
    weights_path = Path(weights_path)
    return weights_path.with_name(f'{weights_path.stem}_templates.safetensors')


def save_templates(path, embedding, rotation, head, weights_sha256):
    """
    Write a template bank.

    embedding: (N, E) unit features; rotation: (N, 3, 3) allocentric rotations; head: (N,)
    int64 head (catalogue position) of each template's object; weights_sha256: of the
    weights that computed the embeddings.
    """
    save_file({'embedding': embedding.to(torch.float16).contiguous(),
               'rotation': rotation.to(torch.float32).contiguous(),
               'head': head.to(torch.int64).contiguous()},
              str(path), metadata={'weights_sha256': weights_sha256})


class PoseTemplates:
    """
    A template bank on a device; ``rotations(embedding, heads)`` looks rotations up.

    embedding: (N, E) features (the query's dot product with them is the similarity);
    rotation: (N, 3, 3) allocentric; head: (N,) int64.  The templates are kept grouped by
    head (a stable sort), so that a crop is compared with its own object's templates only.
    """

    def __init__(self, embedding, rotation, head, device='cpu'):
        order = torch.argsort(head, stable=True)
        self.embedding = embedding[order].float().to(device)
        self.rotation = rotation[order].float().to(device)
        self.head = head[order].to(device)
        heads, counts = torch.unique_consecutive(self.head, return_counts=True)
        stops = torch.cumsum(counts, 0).tolist()
        self.slices = {int(h): slice(stop - int(c), stop)
                       for h, c, stop in zip(heads, counts, stops)}

    @classmethod
    def load(cls, path, weights_sha256, device='cpu'):
        """
        Return the bank of a safetensors file made with the weights of ``weights_sha256``.

        Raises ExportError for a missing file or a bank of other weights.
        """
        path = Path(path)
        if not path.is_file():
            raise ExportError(f'template bank {path} not found (write it with `python -m '
                              'training templates --weights W --out PATH`)')
        with safe_open(str(path), framework='pt') as bank:
            made_with = (bank.metadata() or {}).get('weights_sha256')
            if made_with != weights_sha256:
                raise ExportError(f'template bank {path} was computed with other weights '
                                  f'(sha256 {made_with}, these are {weights_sha256})')
            return cls(*(bank.get_tensor(name) for name in ('embedding', 'rotation', 'head')),
                       device=device)

    def _similarity(self, embedding, heads):
        """Return (B, N) similarities to the templates, -inf for other objects' templates."""
        similarity = torch.full((len(heads), len(self.head)), float('-inf'),
                                device=self.embedding.device)
        for head in heads.unique().tolist():
            if head not in self.slices:
                raise ExportError('the template bank holds no template of some detected object')
            rows, columns = torch.nonzero(heads == head)[:, 0], self.slices[head]
            similarity[rows, columns] = embedding[rows].float() @ self.embedding[columns].T
        return similarity

    def rotations(self, embedding, heads):
        """
        Return (B, 3, 3) allocentric rotations of the nearest same-object templates.

        embedding: (B, E) unit features of the crops; heads: (B,) int64 heads of their
        objects.  A head without templates raises ExportError.
        """
        return self.rotation[self._similarity(embedding, heads).argmax(dim=1)]

    def distinct_rotations(self, embedding, heads, count, min_degrees=30.0, pool=64):
        """
        Return per crop a list of up to ``count`` (3, 3) allocentric rotations, nearest first.

        From the ``pool`` nearest same-object templates, greedily the nearest ones that lie
        at least ``min_degrees`` from every rotation already taken: distinct starting
        rotations for a multi-start refinement.
        """
        similarity = self._similarity(embedding, heads)
        order = similarity.topk(min(pool, similarity.shape[1]), dim=1)
        separation = torch.deg2rad(torch.tensor(min_degrees))
        chosen = []
        for values, indices in zip(*order):
            taken = []
            for index in indices[torch.isfinite(values)]:
                rotation = self.rotation[index]
                if all(roma.rotmat_geodesic_distance(rotation, other) >= separation
                       for other in taken):
                    taken.append(rotation)
                if len(taken) == count:
                    break
            chosen.append(taken)
        return chosen
