"""
toy-depth: a FRAMEWORK EXERCISE, not a product model.

A conv net of about five thousand parameters learns depth from RGB on frames of the bundled
ray-cast room (rgbd_perception.tools.sample_scene, rendered in memory, deterministic).  It exists
so the framework's training, resume, multi-process, evaluation and export paths run end to end on
real (if tiny) data in seconds on a CPU; its numbers say nothing about real depth estimation.
"""

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from rgbd_perception.tools.sample_scene import sample_frame
from training.framework.base_task import Task

TYPICAL_DEPTH_M = 3.0  # initial output of the net, metres (the room is 1.5 to 5 m deep)


class ToyDepthNet(nn.Module):
    """Encoder-decoder: (B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) depth in metres (> 0)."""

    def __init__(self, channels=8):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False),
            nn.Conv2d(2 * channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 1, 3, padding=1))
        nn.init.constant_(self.decoder[-1].bias, TYPICAL_DEPTH_M)

    def forward(self, rgb):
        """Return (B, 1, H, W) float depth in metres for (B, 3, H, W) RGB (H, W even)."""
        return F.softplus(self.decoder(self.encoder(rgb)))


class SampleSceneDepth(Dataset):
    """
    Frames of the sample sequence as {'rgb': (3, H, W) float32 in [0, 1], 'depth': (1, H, W)}.

    depth is the clean ray-cast depth, float32 metres; frames are rendered once, in memory.
    """

    def __init__(self, indices, num_frames, width, height):
        frames = [sample_frame(i, num_frames=num_frames, width=width, height=height)
                  for i in indices]
        self.rgb = torch.from_numpy(np.stack([f.rgb for f in frames])).permute(0, 3, 1, 2)
        self.depth = torch.from_numpy(np.stack([f.depth_clean_m for f in frames]))[:, None]

    def __len__(self):
        return len(self.rgb)

    def __getitem__(self, index):
        return {'rgb': self.rgb[index].float() / 255.0, 'depth': self.depth[index]}


class ToyDepthTask(Task):
    """Depth from RGB on the sample scene; frames i % holdout_every == last are held out."""

    name = 'toy-depth'
    config_name = 'toy_depth.yaml'
    model_class = ToyDepthNet

    def _frames(self, held_out):
        data = self.config['data']
        every = data['holdout_every']
        return [i for i in range(data['num_frames']) if (i % every == every - 1) == held_out]

    def _dataset(self, held_out):
        data = self.config['data']
        return SampleSceneDepth(self._frames(held_out), data['num_frames'], data['width'],
                                data['height'])

    def train_dataset(self):
        """Return the training frames (see SampleSceneDepth)."""
        return self._dataset(held_out=False)

    def eval_dataset(self):
        """Return the held-out frames (see SampleSceneDepth)."""
        return self._dataset(held_out=True)

    def data_description(self):
        """Return the source, frames, size and tensors of the data."""
        data = self.config['data']
        return {'source': 'rgbd_perception.tools.sample_scene (ray-cast room, rendered in memory)',
                'num_frames': data['num_frames'], 'train_frames': self._frames(False),
                'eval_frames': self._frames(True), 'width': data['width'],
                'height': data['height'], 'input': 'rgb (3, H, W) float32 in [0, 1]',
                'target': 'clean depth (1, H, W) float32 metres'}

    def loss(self, model, batch):
        """Return the mean absolute depth error in metres."""
        return F.l1_loss(model(batch['rgb']), batch['depth'])

    def evaluate(self, model, device, out_dir):
        """Return training.metrics.depth_metrics on the held-out frames; write two PNGs."""
        # Imported here: matplotlib and scipy add about a second to every training start.
        from training.framework.depth_plots import plot_predictions, plot_scatter
        from training.metrics import depth_metrics

        loader = DataLoader(self.eval_dataset(), batch_size=self.config['train']['batch_size'])
        rgb, pred, gt = [], [], []
        with torch.no_grad():
            for batch in loader:
                pred.append(model(batch['rgb'].to(device)).cpu()[:, 0])
                rgb.append(batch['rgb'].permute(0, 2, 3, 1))
                gt.append(batch['depth'][:, 0])
        rgb, pred, gt = (torch.cat(items).numpy() for items in (rgb, pred, gt))
        plot_predictions(rgb, pred, gt, out_dir / 'predictions.png')
        plot_scatter(pred, gt, out_dir / 'depth_scatter.png')
        return depth_metrics(pred, gt)
