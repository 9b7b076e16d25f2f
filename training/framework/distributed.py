"""
Process group and device of this process: one CPU/GPU process, or one of many under torchrun.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; with WORLD_SIZE > 1 the default process group
is initialised (nccl on CUDA, gloo on CPU) and each process drives cuda:LOCAL_RANK.  Only rank
0 writes files.  Multi-node resume assumes the run directory is on a shared file system.
"""

from dataclasses import dataclass
import os

import torch
import torch.distributed as dist

from rgbd_perception.runtime.device import resolve_device


@dataclass(frozen=True)
class ProcessContext:
    """Where this process runs: rank among world_size processes, and its torch.device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self):
        """Return True on rank 0, the only process that writes files."""
        return self.rank == 0

    @property
    def distributed(self):
        """Return True when this process is one of several (a process group is initialised)."""
        return self.world_size > 1


def start(device_name):
    """
    Return the ProcessContext of this process, initialising the process group under torchrun.

    ``device_name`` is the config's 'auto' | 'cpu' | 'cuda' | 'cuda:N'; under torchrun a CUDA
    choice becomes cuda:LOCAL_RANK.
    """
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    device = resolve_device(device_name)
    if world_size > 1:
        if device.type == 'cuda':
            device = torch.device('cuda', int(os.environ.get('LOCAL_RANK', '0')))
            torch.cuda.set_device(device)
        dist.init_process_group(backend='nccl' if device.type == 'cuda' else 'gloo')
    return ProcessContext(rank=rank, world_size=world_size, device=device)


def stop(context):
    """Tear down the process group started by start(), if any."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def gather_objects(context, obj):
    """Return the list of every rank's picklable ``obj`` (rank order), on every rank."""
    if not context.distributed:
        return [obj]
    gathered = [None] * context.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def mean_over_ranks(context, value):
    """Return the float ``value`` (a scalar tensor) averaged over all ranks."""
    value = value.detach().float()
    if context.distributed:
        value = value.clone()
        dist.all_reduce(value)
        value /= context.world_size
    return float(value)
