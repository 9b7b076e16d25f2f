"""
Run an exported model through ONNX Runtime on the CPU instead of torch (``runtime`` option).

The ONNX file is exported from the loaded torch model the first time a runtime asks for it
and kept in a cache keyed by the weights' sha256 (``RGBD_PERCEPTION_CACHE``, default
``~/.cache/rgbd_perception``, folder ``onnx/``), beside a JSON record of the export: weights
sha256, torch / onnx / onnxruntime versions, opset, input and output names and the largest
difference from torch on the export's example input. Files are written under a temporary
name and renamed, so an interrupted export never leaves a half file behind.
"""

import importlib.util
import json
import os
from pathlib import Path

import torch

RUNTIMES = ('torch', 'onnxruntime')
OPSET = 18
#: The example input may be as small as this on each dynamic axis (the exporter's range).
MIN_SIDE = 8


def check_runtime(runtime, device, half=False):
    """Raise ValueError unless ``runtime`` is known and can run on ``device`` (torch.device)."""
    if runtime not in RUNTIMES:
        raise ValueError(f'unknown runtime {runtime!r}, expected one of {RUNTIMES}')
    if runtime == 'onnxruntime' and not all(importlib.util.find_spec(name) for name in (
            'onnxruntime', 'onnxscript')):
        raise ValueError('runtime onnxruntime needs the onnxruntime and onnxscript packages '
                         '(pip install -r requirements/runtime.txt)')
    if runtime != 'torch' and (device.type != 'cpu' or half):
        raise ValueError(f'runtime {runtime} runs on the CPU in fp32: use device cpu '
                         'without half (torch serves CUDA)')


def onnx_cache_dir():
    """Return the folder of exported ONNX files (created on first use)."""
    root = os.environ.get('RGBD_PERCEPTION_CACHE') or Path.home() / '.cache' / 'rgbd_perception'
    return Path(root) / 'onnx'


class OnnxModel:
    """
    A torch model exported to ONNX and called like it: tensors in, the first output out.

    model: the loaded torch module (eval mode, CPU); weights_sha256: the manifest's, naming
    the cache file; name: a label for the file; example_inputs: a tuple of CPU tensors
    of the shapes the stage feeds; input_names / output_names: the graph's; dynamic: for
    each input, the axes whose size varies (``{axis: name}``, the same name for axes that
    always agree, such as the height of colour and depth).
    """

    def __init__(self, model, weights_sha256, name, example_inputs, input_names, output_names,
                 dynamic):
        import onnxruntime

        path = onnx_cache_dir() / f'{name}-{weights_sha256[:16]}.onnx'
        if not path.is_file():
            export_onnx(model, example_inputs, path, input_names, output_names, dynamic)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(path), options,
                                                    providers=['CPUExecutionProvider'])
        self.input_names, self.path = input_names, path

    def __call__(self, *inputs):
        """Return the first output as a float32 CPU tensor for CPU tensors ``inputs``."""
        feed = {name: tensor.detach().float().contiguous().numpy()
                for name, tensor in zip(self.input_names, inputs)}
        return torch.from_numpy(self.session.run(None, feed)[0])


def export_onnx(model, example_inputs, path, input_names, output_names, dynamic):
    """
    Export ``model`` to ``path`` (torch.export-based exporter) and record the export beside it.

    See :class:`OnnxModel` for the arguments. The record (``path`` with a .json suffix)
    holds the versions, the opset and the largest absolute difference between ONNX Runtime
    and torch on ``example_inputs``.
    """
    import onnx
    import onnxruntime

    dims = {}
    shapes = tuple({axis: dims.setdefault(label, torch.export.Dim(label, min=MIN_SIDE))
                    for axis, label in axes.items()} for axes in dynamic)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + '.partial')
    with torch.no_grad():
        program = torch.onnx.export(model, tuple(example_inputs), dynamo=True,
                                    input_names=list(input_names),
                                    output_names=list(output_names),
                                    dynamic_shapes=shapes, opset_version=OPSET)
        program.save(str(partial))
        expected = model(*example_inputs)
    session = onnxruntime.InferenceSession(str(partial), providers=['CPUExecutionProvider'])
    found = session.run(None, {name: tensor.numpy()
                               for name, tensor in zip(input_names, example_inputs)})[0]
    record = {'onnx_file': path.name, 'opset': OPSET, 'torch': torch.__version__,
              'onnx': onnx.__version__, 'onnxruntime': onnxruntime.__version__,
              'input_names': list(input_names), 'output_names': list(output_names),
              'example_shapes': [list(t.shape) for t in example_inputs],
              'max_abs_difference_from_torch': float(abs(found - expected.numpy()).max())}
    record_path = path.with_suffix('.json')
    record_partial = record_path.with_name(record_path.name + '.partial')
    record_partial.write_text(json.dumps(record, indent=2) + '\n')
    os.replace(record_partial, record_path)
    os.replace(partial, path)  # last: the ONNX file's presence marks a finished export
