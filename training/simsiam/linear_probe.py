"""
Linear evaluation of frozen representations (the seed's protocol): object id from crop features.

Features: SimSiamRGBD.features of each crop's evaluation view (the whole crop resized to the
view size, eval mode, no augmentation).  Classifier: multinomial logistic regression on the
standardised features (mean / std of the training features), fitted by full-batch L-BFGS with
a small L2 penalty from a zero start, so a probe is deterministic.  Accuracy = top-1 on the
test crops.
"""

import torch
import torch.nn.functional as F

from training.simsiam.augment import centre_view, to_tensor

L2 = 1e-3
ITERATIONS = 200
#: --branch -> the trunks whose features are probed.
BRANCH_SETS = {'rgb': ('rgb',), 'rgbd': ('rgb', 'hha')}


def crop_views(crops, branches, size):
    """Yield {branch: (3, size, size)} evaluation views of a CropSet's crops."""
    arrays = {'rgb': crops.rgb, 'hha': crops.hha}
    for index in range(len(crops)):
        yield centre_view({b: to_tensor(arrays[b][index]) for b in branches}, size)


@torch.no_grad()
def extract_features(model, crops, branches, size, device='cpu', batch_size=128):
    """Return (N, F) float32 CPU features of a CropSet's crops for ``branches`` of ``model``."""
    model.eval()
    features, pending = [], []

    def flush():
        batch = {b: torch.stack([v[b] for v in pending]).to(device) for b in branches}
        features.append(model.features(batch, branches).float().cpu())
        pending.clear()
    for view in crop_views(crops, branches, size):
        pending.append(view)
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    return torch.cat(features)


def fit_and_score(train_x, train_y, test_x, test_y):
    """
    Return (top-1 accuracy on the test set, classes) of a linear classifier fitted on train.

    x: (N, F) float features; y: (N,) int labels (any ids).  Test crops of a class the
    training set lacks count as errors.
    """
    classes = torch.unique(train_y)
    lookup = {int(c): i for i, c in enumerate(classes)}
    targets = torch.tensor([lookup[int(y)] for y in train_y])
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(train_x.shape[1], len(classes), requires_grad=True)
    bias = torch.zeros(len(classes), requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=ITERATIONS,
                                  line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(train_x @ weight + bias, targets) + L2 * weight.square().sum()
        loss.backward()
        return loss
    optimizer.step(closure)
    with torch.no_grad():
        predicted = classes[(test_x @ weight + bias).argmax(1)]
    return float((predicted == test_y).float().mean()), len(classes)


def load_backbone(spec, branch, seed=0, device='cpu'):
    """
    Return (SimSiamRGBD in eval mode, its config or None) for a probe of ``branch``.

    spec: exported SimSiamRGBD weights (.safetensors with manifest) or 'random' (the same
    architecture, initialised from torch seed ``seed``: the baseline).  branch: 'rgb' uses the
    RGB trunk only, 'rgbd' both trunks (the weights must have an HHA trunk).
    """
    from rgbd_perception.models.simsiam import SimSiamRGBD
    from rgbd_perception.runtime.weights import build_exported

    wanted = BRANCH_SETS[branch]
    if str(spec) == 'random':
        torch.manual_seed(seed)
        return SimSiamRGBD(branches=wanted).to(device).eval(), None
    model, manifest = build_exported(spec, device)
    if not isinstance(model, SimSiamRGBD):
        raise ValueError(f"{spec}: a {manifest['architecture']}, not SimSiamRGBD weights")
    if set(wanted) - set(model.branches):
        raise ValueError(f'{spec}: trunks {list(model.branches)} lack what --branch {branch} '
                         f'needs ({list(wanted)})')
    return model, manifest['config']


def probe(model, branch, train_crops, test_crops, view_size, device='cpu'):
    """Return {'top1', 'classes', 'train_crops', 'test_crops'} of a linear probe."""
    branches = BRANCH_SETS[branch]
    train_x, test_x = (extract_features(model, crops, branches, view_size, device)
                       for crops in (train_crops, test_crops))
    top1, classes = fit_and_score(train_x, torch.from_numpy(train_crops.labels),
                                  test_x, torch.from_numpy(test_crops.labels))
    return {'top1': top1, 'classes': classes, 'train_crops': len(train_crops),
            'test_crops': len(test_crops)}
