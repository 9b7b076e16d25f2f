"""
Training loop shared by every task: devices, DDP, mixed precision, checkpoints, resume, logs.

An interrupted run resumed from its latest checkpoint ends with the same weights as an
uninterrupted one (same config and process count): checkpoints hold model, optimiser,
scheduler, scaler and every rank's RNG states, and the data order is a pure function of
(seed, epoch), an interrupted epoch restarting at its next batch.
"""

import itertools
from pathlib import Path
import random
import sys
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from training.framework import checkpoint, distributed
from training.framework.config import ConfigError, flatten, write_config
from training.framework.logging_csv import CsvLog
from training.framework.provenance import training_provenance

RESUME_MODES = ('never', 'auto', 'required')
OPTIMIZERS = {'adam': (torch.optim.Adam, {}), 'adamw': (torch.optim.AdamW, {}),
              'sgd': (torch.optim.SGD, {'momentum': 0.9})}


class ResumableSampler(DistributedSampler):
    """
    DistributedSampler whose epoch can start after its first ``start`` indices.

    mix: a training.framework.mixing.Mix, or None; with one, an epoch's indices are
    mix.epoch_indices(seed, epoch) (repeated or cut to the padded length), split between the
    processes as DistributedSampler splits its own.
    """

    def __init__(self, *args, mix=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.start = 0
        self.mix = mix

    def _indices(self):
        if self.mix is None:
            return super().__iter__()
        indices = np.resize(self.mix.epoch_indices(self.seed, self.epoch), self.total_size)
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __iter__(self):
        return itertools.islice(self._indices(), self.start, None)

    def __len__(self):
        return self.num_samples - self.start


def seed_everything(seed):
    """Seed torch (CPU and CUDA), numpy and Python random with ``seed``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def build_optimizer(parameters, optim):
    """Return the optimiser of the config's ``optim`` section for ``parameters``."""
    if optim['name'] not in OPTIMIZERS:
        raise ConfigError(f"optim.name: unknown optimiser {optim['name']!r}, expected one of "
                          f'{sorted(OPTIMIZERS)}')
    optimizer_class, extra = OPTIMIZERS[optim['name']]
    return optimizer_class(parameters, lr=optim['lr'], weight_decay=optim['weight_decay'],
                           **extra)


def build_scheduler(optimizer, schedule, steps):
    """Return the per-step learning-rate scheduler 'constant' or 'cosine' (to 0 at steps)."""
    if schedule == 'constant':
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if schedule == 'cosine':
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    raise ConfigError(f'optim.schedule: unknown schedule {schedule!r}, expected constant or '
                      'cosine')


def checkpoint_to_resume(run_dir, mode):
    """Return the checkpoint to resume from under run.resume ``mode``, or None to start anew."""
    if mode not in RESUME_MODES:
        raise ConfigError(f'run.resume: expected one of {RESUME_MODES}, got {mode!r}')
    latest = checkpoint.latest_checkpoint(run_dir)
    if mode == 'never' and latest is not None:
        raise ConfigError(f'run directory {run_dir} already holds checkpoints: continue it with '
                          '--resume, or choose another run.name or --run-dir')
    if mode == 'required' and latest is None:
        raise ConfigError(f'nothing to resume: run directory {run_dir} has no '
                          f'{checkpoint.LATEST}')
    return None if mode == 'never' else latest


def _batches(loader, seed, start_step):
    """Yield (epoch, batch) forever from ``start_step``; epoch e's order depends on seed, e."""
    steps_per_epoch = loader.sampler.num_samples // loader.batch_size
    epoch, skip = divmod(start_step, steps_per_epoch)
    for epoch in itertools.count(epoch):
        loader.sampler.set_epoch(epoch)
        loader.sampler.start = skip * loader.batch_size
        loader.generator.manual_seed(seed * 100003 + epoch)  # worker seeds
        for batch in loader:
            yield epoch, batch
        skip = 0


def _data_loader(dataset, config, context, mix=None):
    """
    Return the training DataLoader of this process (its shard, deterministic order).

    mix: the task's training.framework.mixing.Mix of the dataset, or None (uniform).
    """
    train = config['train']
    sampler = ResumableSampler(dataset, num_replicas=context.world_size, rank=context.rank,
                               shuffle=True, seed=config['seed'], drop_last=True, mix=mix)
    if sampler.num_samples < train['batch_size']:
        raise ConfigError(f"train.batch_size {train['batch_size']} exceeds the "
                          f'{sampler.num_samples} training samples of each of the '
                          f'{context.world_size} processes')
    return DataLoader(dataset, batch_size=train['batch_size'], sampler=sampler, drop_last=True,
                      num_workers=train['num_workers'], generator=torch.Generator(),
                      pin_memory=context.device.type == 'cuda')


def _warn_changed_config(saved, config):
    """Print the keys whose values differ from the checkpoint's config (resume)."""
    old, new = flatten(saved), flatten(config)
    changed = sorted(key for key in old.keys() | new.keys()
                     if key != 'run.resume' and old.get(key) != new.get(key))
    if changed:
        tqdm.write('resuming with a changed config (results will differ from an uninterrupted '
                   'run): ' + ', '.join(f'{key}: {old.get(key)!r} -> {new.get(key)!r}'
                                        for key in changed), file=sys.stderr)


def train(task_class, config, run_dir, argv=None):
    """
    Train ``task_class`` under the resolved ``config`` into ``run_dir``; return a summary.

    Runs as one process, or as each of the processes started by torchrun.  Rank 0 writes
    run_dir/config.yaml, log.csv, checkpoints/step_XXXXXX.pt and latest.pt.  The summary:
    {'step': last step, 'loss': last loss (this rank), 'samples': samples seen by this rank}.
    argv: the ``python -m training`` arguments of this run (None: called from Python); the
    checkpoints record them with the code revision and initial weights (provenance).
    """
    context = distributed.start(config['device'])
    try:
        return _train(task_class(config), config, Path(run_dir), context, argv)
    finally:
        distributed.stop(context)


def _train(task, config, run_dir, context, argv):
    train_cfg, optim = config['train'], config['optim']
    steps = train_cfg['steps']
    resume_from = checkpoint_to_resume(run_dir, config['run']['resume'])
    amp = config['amp'] and context.device.type == 'cuda'
    if config['amp'] and not amp:
        tqdm.write('amp: mixed precision needs CUDA; training in float32', file=sys.stderr)

    seed_everything(config['seed'] + context.rank)
    model = task.build_model().to(context.device)
    net = DistributedDataParallel(model, device_ids=(
        [context.device.index] if context.device.type == 'cuda' else None)
    ) if context.distributed else model
    optimizer = build_optimizer(model.parameters(), optim)
    scheduler = build_scheduler(optimizer, optim['schedule'], steps)
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    dataset = task.train_dataset()
    loader = _data_loader(dataset, config, context, task.train_mix(dataset))

    start_step, previous = 0, None
    if resume_from is not None:
        state = checkpoint.load(resume_from)  # on the CPU: RNG states must stay there
        _warn_changed_config(state['config'], config)
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        if state['scaler']:
            scaler.load_state_dict(state['scaler'])
        start_step, previous = state['step'], state.get('provenance')
        if context.rank < len(state['rng']):
            checkpoint.set_rng_state(state['rng'][context.rank])
        else:
            tqdm.write(f'rank {context.rank}: the checkpoint has no RNG state for this rank '
                       f"(written by {len(state['rng'])} processes)", file=sys.stderr)

    provenance = training_provenance(previous, config, argv, start_step)
    log = None
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(config, run_dir / 'config.yaml')
        log = CsvLog(run_dir / 'log.csv', resume_step=start_step)
    progress = tqdm(total=steps, initial=start_step, desc=task.name, dynamic_ncols=True,
                    disable=not (context.is_main and sys.stderr.isatty()))
    batches = _batches(loader, config['seed'], start_step)
    loss_value, samples, last_log = float('nan'), 0, time.monotonic()
    net.train()
    try:
        for step in range(start_step + 1, steps + 1):
            epoch, batch = next(batches)
            batch = {name: value.to(context.device, non_blocking=True)
                     for name, value in batch.items()}
            task.set_progress(step - 1, steps)
            with torch.autocast(context.device.type, enabled=amp):
                loss = task.loss(net, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if optim['clip_grad_norm'] is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), optim['clip_grad_norm'])
            scaler.step(optimizer)
            scaler.update()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            samples += train_cfg['batch_size']
            progress.update()
            if step % train_cfg['log_every'] == 0 or step == steps:
                loss_value = distributed.mean_over_ranks(context, loss)
                progress.set_postfix(loss=f'{loss_value:.4f}')
                if log is not None:
                    log.write(step, loss_value, lr, time.monotonic() - last_log)
                last_log = time.monotonic()
            if step % train_cfg['checkpoint_every'] == 0 or step == steps:
                _save(run_dir, context, step, epoch, config, provenance, task, model, optimizer,
                      scheduler, scaler)
    finally:
        progress.close()
        if log is not None:
            log.close()
    print(f'[rank {context.rank}/{context.world_size}] {task.name}: steps {start_step + 1}..'
          f'{steps}, {samples} samples, loss {loss_value:.4f}', flush=True)
    return {'step': steps, 'loss': loss_value, 'samples': samples}


def _save(run_dir, context, step, epoch, config, provenance, task, model, optimizer, scheduler,
          scaler):
    """Gather every rank's RNG state and let rank 0 write the checkpoint of ``step``."""
    rng = distributed.gather_objects(context, checkpoint.rng_state())
    if not context.is_main:
        return
    state = {'task': task.name, 'step': step, 'epoch': epoch, 'world_size': context.world_size,
             'config': config, 'provenance': provenance, 'model': model.state_dict(),
             'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
             'scaler': scaler.state_dict(), 'rng': rng}
    path = checkpoint.save_step(state, run_dir, step, keep=config['train']['keep_checkpoints'])
    tqdm.write(f'checkpoint: {path}')
