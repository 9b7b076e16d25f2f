"""Resolve the user's device choice ('auto', 'cpu', 'cuda', 'cuda:N') to a torch.device."""

import torch

DEVICE_CHOICES = ('auto', 'cpu', 'cuda')


class DeviceError(ValueError):
    """Raised when the requested device does not exist on this machine."""


def resolve_device(name='auto'):
    """Return the torch.device for ``name``; 'auto' picks CUDA when available."""
    name = str(name).strip().lower()
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda'):
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{name}' requested but CUDA is not available")
        return torch.device(name)
    if name == 'cpu':
        return torch.device('cpu')
    raise DeviceError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)")
