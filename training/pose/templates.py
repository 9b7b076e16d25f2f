"""Template banks of pose crops (rgbd_perception.stages.pose_templates): embed and collect."""

import torch

from rgbd_perception.stages.pose_templates import PoseTemplates


@torch.no_grad()
def embed_crops(model, crops, device, batch=256):
    """Return the (N, E) CPU embeddings of a PoseCrops dataset's crops."""
    features = []
    for start in range(0, len(crops), batch):
        stop = min(start + batch, len(crops))
        inputs = torch.stack([crops.tensor(i) for i in range(start, stop)])
        features.append(model(inputs.to(device))['embedding'].cpu())
    return torch.cat(features)


def build_templates(model, crops, device):
    """Return the PoseTemplates of a PoseCrops dataset embedded by ``model`` (on device)."""
    return PoseTemplates(embed_crops(model, crops, device),
                         torch.from_numpy(crops.crops['rotation']),
                         torch.from_numpy(crops.crops['index']), device)
