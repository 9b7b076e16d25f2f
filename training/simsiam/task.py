"""
SimSiam RGB-D pre-training (seed 000) as a task: ``python -m training simsiam``.

Data (configs/simsiam.yaml): object-centred crops of BOP folders (data.train_dirs: the
synthetic world, or any BOP dataset) plus crops of any training.datasets reader
(data.real_train: Washington RGB-D, BOP, NYU, SUN, TUM, ... and ``recording``, a ROS 2 bag whose
frames give grid crops without labels).  Crops are cut and HHA-encoded once and cached
(training.simsiam.crops); each training step draws two SimSiam views per crop
(training.simsiam.augment) from a numpy Generator seeded by torch's RNG, which checkpoints
carry, so resumes are exact.  Evaluation: the linear probe of the frozen features on held-out
crops (data.eval_dir; the first half of its frames fit the classifier, the second half test
it), and the collapse check of the SimSiam paper (std of the l2-normalised z per dimension,
1 / sqrt(dim) when the output is spread, 0 when collapsed).
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from rgbd_perception.io.images import DatasetLayoutError
from rgbd_perception.models.simsiam import simsiam_loss, SimSiamRGBD
from training.datasets import DATASETS
from training.framework.base_task import Task
from training.simsiam.augment import two_views
from training.simsiam.crops import cached, cached_bop_crops, reader_crops
from training.simsiam.linear_probe import extract_features, fit_and_score


class CropDataset(Dataset):
    """CropSets as one dataset: {'rgb': (3, S, S) uint8 [, 'hha'], 'label': int64}."""

    def __init__(self, crop_sets):
        self.sets = [c for c in crop_sets if len(c)]
        self.offsets = np.cumsum([0] + [len(c) for c in self.sets])

    def __len__(self):
        return int(self.offsets[-1])

    def __getitem__(self, index):
        which = int(np.searchsorted(self.offsets, index, side='right') - 1)
        crops, local = self.sets[which], index - self.offsets[which]
        item = {'rgb': torch.from_numpy(crops.rgb[local]).permute(2, 0, 1),
                'label': torch.tensor(crops.labels[local])}
        if crops.hha is not None:
            item['hha'] = torch.from_numpy(crops.hha[local]).permute(2, 0, 1)
        return item


def halves_by_frame(crops):
    """Return (first, second) CropSets: crops of the first half of frames, then the rest."""
    cut = np.median(np.unique(crops.frames))
    return crops.subset(crops.frames <= cut), crops.subset(crops.frames > cut)


class SimSiamTask(Task):
    """SimSiam on RGB (+ HHA); see the module docstring and configs/simsiam.yaml."""

    name = 'simsiam'
    config_name = 'simsiam.yaml'
    model_class = SimSiamRGBD

    @property
    def _hha(self):
        data = self.config['data']
        return data['hha'] if 'hha' in self.config['model']['branches'] else None

    def exported_model_kwargs(self):
        """Return the model's keyword arguments without the heads (trunks are exported)."""
        return {**self.model_kwargs(), 'heads': False}

    def exported_tensors(self, state_dict):
        """Return the trunks' tensors in fp16 (the projector and predictor are not exported)."""
        return {name: value.half() if value.is_floating_point() else value
                for name, value in state_dict.items() if name.startswith('trunks.')}

    def _bop(self, folder):
        data = self.config['data']
        return cached_bop_crops(folder, data['cache_dir'], data['crop_size'], data['min_visib'],
                                self._hha)

    def _reader(self, entry):
        """Return the cached crops of a data.real_train entry {dataset, root, args}."""
        data = self.config['data']
        if entry.get('dataset') not in DATASETS:
            raise DatasetLayoutError(f"data.real_train: unknown dataset {entry.get('dataset')!r}"
                                     f', known: {sorted(DATASETS)}')
        args = entry.get('args') or {}
        description = {'dataset': entry['dataset'], 'root': str(Path(entry['root']).resolve()),
                       'args': args, 'size': data['crop_size'], 'hha': self._hha}
        return cached(data['cache_dir'], description, lambda: reader_crops(
            DATASETS[entry['dataset']](entry['root'], **args), data['crop_size'], self._hha))

    def train_dataset(self):
        """Return the crops of data.train_dirs and of the data.real_train readers."""
        data = self.config['data']
        return CropDataset([self._bop(folder) for folder in data['train_dirs']]
                           + [self._reader(entry) for entry in data['real_train']])

    def eval_dataset(self):
        """Return the held-out crops of data.eval_dir."""
        return CropDataset([self._bop(self.config['data']['eval_dir'])])

    def data_description(self):
        """Return the sources, crop settings and how the data was made."""
        data = self.config['data']
        return {key: data[key] for key in ('train_dirs', 'eval_dir', 'real_train', 'hha',
                                           'hha_colour', 'crop_size', 'view_size', 'min_visib',
                                           'generated_by')} | {
            'input': 'object crops {rgb, hha}: (B, 3, S, S) float in [0, 1]',
            'target': 'none (self-supervised: two augmented views of each crop)'}

    def _views(self, batch):
        """Return two {branch: (B, 3, S, S)} augmented views of a uint8 batch."""
        data = self.config['data']
        rng = np.random.default_rng(int(torch.randint(0, 2 ** 62, ())))
        branches = self.config['model']['branches']
        device = batch['rgb'].device
        pairs = [two_views(rng, {b: batch[b][i].cpu().float() / 255.0 for b in branches},
                           data['view_size'], data['hha_colour'])
                 for i in range(len(batch['rgb']))]
        return [{b: torch.stack([pair[k][b] for pair in pairs]).to(device) for b in branches}
                for k in range(2)]

    def loss(self, model, batch):
        """Return SimSiam's symmetric negative cosine loss of two views of the batch."""
        view1, view2 = self._views(batch)
        return simsiam_loss(*model(view1, view2))

    def evaluate(self, model, device, out_dir):
        """Return the held-out linear probe top-1 and (with heads) the collapse check; no plots."""
        data = self.config['data']
        crops = self._bop(data['eval_dir'])
        branches = tuple(self.config['model']['branches'])
        first, second = halves_by_frame(crops)
        features = [extract_features(model, part, branches, data['view_size'], device)
                    for part in (first, second)]
        top1, classes = fit_and_score(features[0], torch.from_numpy(first.labels),
                                      features[1], torch.from_numpy(second.labels))
        metrics = {'linear_probe_top1': top1, 'classes': classes,
                   'probe_train_crops': len(first), 'probe_test_crops': len(second)}
        if model.projector is not None:  # exported weights keep the trunks only
            with torch.no_grad():
                z = model.projector(features[1].to(device))
            metrics |= {'z_std': F.normalize(z, dim=1).std(0).mean().item(),
                        'z_std_uncollapsed': float(z.shape[1] ** -0.5)}
        return metrics
