"""
Run exported models through ONNX Runtime or OpenVINO on the CPU instead of torch (``runtime``).

Both runtimes read the same ONNX file, exported from the loaded torch model by torch's
exporter (opset OPSET, dynamic image sizes and batch).  Where the file comes from:

1. ``python -m training onnx --weights W`` (or ``export --onnx``) writes it beside the
   weights (``W.onnx``) and records the export in the weights' manifest (``onnx`` block:
   file, sha256, opset, versions, the largest difference from torch).  A recorded file is
   used when present and refused when its sha256 differs from the record.
2. Otherwise it is exported the first time a runtime asks for it and kept in a cache keyed
   by the weights' sha256 (``RGBD_PERCEPTION_CACHE``, default ``~/.cache/rgbd_perception``,
   folder ``onnx/``), beside a JSON file holding the same record.

Files are written under a temporary name and renamed, so an interrupted export never leaves
a half file behind.  Each served architecture has a GraphSignature (its inputs, outputs and
varying axes); models with one output return a tensor, PoseNet returns torch's dict.
"""

from collections import namedtuple
import importlib.util
import json
import os
from pathlib import Path

import torch

from rgbd_perception.runtime.weights import ExportError, file_sha256

RUNTIMES = ('torch', 'onnxruntime', 'openvino')
#: The Python packages each exported-graph runtime needs (onnxscript: torch's exporter).
RUNTIME_PACKAGES = {'onnxruntime': ('onnxruntime', 'onnxscript', 'onnx'),
                    'openvino': ('openvino', 'onnxruntime', 'onnxscript', 'onnx')}
OPSET = 18
#: What the ``runtime`` option of nodes and CLI does (their parameter help).
RUNTIME_HELP = ("'torch', 'onnxruntime' or 'openvino': the latter run the model exported to "
                'ONNX (beside the weights, else exported on first use and cached) on the CPU '
                'in fp32')
#: The example input may be as small as this on each dynamic image axis (the exporter's range).
MIN_SIDE = 8

#: example_inputs: CPU tensors of the shapes the stage feeds; input_names / output_names: the
#: graph's (outputs in the order torch returns them); dynamic: per input, the axes whose size
#: varies ({axis: name}, the same name for axes that always agree); returns_dict: whether
#: torch returns {output name: tensor} rather than one tensor.
GraphSignature = namedtuple('GraphSignature', 'example_inputs input_names output_names '
                                              'dynamic returns_dict')


def graph_signature(model):
    """Return the GraphSignature of a served model; ExportError for other architectures."""
    name = type(model).__name__
    image = {2: 'height', 3: 'width'}
    if name == 'VanishingDepthNet':
        return GraphSignature((torch.rand(1, 3, 48, 64), torch.rand(1, 1, 48, 64)),
                              ('rgb', 'depth'), ('depth_out',), (image, image), False)
    if name == 'MonoDepthNet':  # sides are multiples of the network's stride, 32
        return GraphSignature((torch.rand(1, 3, 64, 96),), ('rgb',), ('inverse_depth',),
                              (image,), False)
    if name == 'PoseNet':
        channels, size = (4 if model.input_mode == 'rgbd' else 3), model.crop_size
        outputs = ('embedding', 'logits', 'rotation', 'raw') + (
            ('mask_logits',) if model.mask_head is not None else ())
        return GraphSignature((torch.rand(2, channels, size, size),), ('crops',), outputs,
                              ({0: 'batch'},), True)
    raise ExportError(f'{name} has no ONNX export: the runtimes serve VanishingDepthNet, '
                      'MonoDepthNet and PoseNet')


def check_runtime(runtime, device, half=False):
    """Raise ValueError unless ``runtime`` is known and can run on ``device`` (torch.device)."""
    if runtime not in RUNTIMES:
        raise ValueError(f'unknown runtime {runtime!r}, expected one of {RUNTIMES}')
    if runtime == 'torch':
        return
    missing = [name for name in RUNTIME_PACKAGES[runtime] if not importlib.util.find_spec(name)]
    if missing:
        raise ValueError(f'runtime {runtime} needs the {", ".join(missing)} package(s) '
                         '(pip install -r requirements/runtime.txt)')
    if device.type != 'cpu' or half:
        raise ValueError(f'runtime {runtime} runs on the CPU in fp32: use device cpu '
                         'without half (torch serves CUDA)')


def onnx_cache_dir():
    """Return the folder of ONNX files exported on first use (created when written)."""
    root = os.environ.get('RGBD_PERCEPTION_CACHE') or Path.home() / '.cache' / 'rgbd_perception'
    return Path(root) / 'onnx'


def onnx_file(model, manifest, weights_path):
    """
    Return the ONNX file of exported weights, exporting it to the cache when there is none.

    model: the loaded torch module (eval, CPU); manifest: its weights' manifest; weights_path:
    the .safetensors file.  A file the manifest records (``onnx`` block) beside the weights
    wins; ExportError when its sha256 is not the recorded one.
    """
    recorded = manifest.get('onnx')
    if recorded is not None:
        path = Path(weights_path).parent / recorded['file']
        if path.is_file():
            if file_sha256(path) != recorded['sha256']:
                raise ExportError(f'{path}: sha256 does not match the manifest; the ONNX file '
                                  'was modified (re-export: python -m training onnx)')
            return path
    path = onnx_cache_dir() / f"{type(model).__name__}-{manifest['weights_sha256'][:16]}.onnx"
    if not path.is_file():
        record = export_onnx(model, path)
        write_atomically(path.with_suffix('.json'), json.dumps(record, indent=2) + '\n')
    return path


def write_atomically(path, text):
    """Write ``text`` to ``path`` under a temporary name, then rename it into place."""
    partial = path.with_name(path.name + '.partial')
    partial.write_text(text)
    os.replace(partial, path)


def export_onnx(model, path):
    """
    Export ``model`` (a served architecture, eval, CPU) to ``path``; return the export's record.

    The record: file name, sha256, opset, torch / onnx / onnxruntime versions, input and
    output names and the largest absolute difference between ONNX Runtime and torch on the
    signature's example inputs (over all outputs).
    """
    import onnx
    import onnxruntime

    signature = graph_signature(model)
    dims = {}
    shapes = tuple({axis: dims.setdefault(label, torch.export.Dim(
        label, min=1 if label == 'batch' else MIN_SIDE)) for axis, label in axes.items()}
        for axes in signature.dynamic)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + '.partial')
    with torch.no_grad():
        program = torch.onnx.export(model, signature.example_inputs, dynamo=True,
                                    input_names=list(signature.input_names),
                                    output_names=list(signature.output_names),
                                    dynamic_shapes=shapes, opset_version=OPSET)
        program.save(str(partial))
        expected = model(*signature.example_inputs)
    expected = list(expected.values()) if signature.returns_dict else [expected]
    session = onnxruntime.InferenceSession(str(partial), providers=['CPUExecutionProvider'])
    found = session.run(None, {name: tensor.numpy() for name, tensor in
                               zip(signature.input_names, signature.example_inputs)})
    difference = max(float(abs(got - want.numpy()).max()) for got, want in zip(found, expected))
    os.replace(partial, path)
    return {'file': path.name, 'sha256': file_sha256(path), 'opset': OPSET,
            'torch': torch.__version__, 'onnx': onnx.__version__,
            'onnxruntime': onnxruntime.__version__,
            'input_names': list(signature.input_names),
            'output_names': list(signature.output_names),
            'example_shapes': [list(t.shape) for t in signature.example_inputs],
            'max_abs_difference_from_torch': difference}


class OnnxModel:
    """
    Exported weights run by ONNX Runtime or OpenVINO on the CPU, called like the torch model.

    model: the loaded torch module (eval, CPU); manifest / weights_path: its exported
    weights (see onnx_file); runtime: 'onnxruntime' or 'openvino'.  Calls take CPU tensors
    in the signature's input order and return float32 CPU tensors: one tensor, or
    {output name: tensor} where torch returns a dict.  Both runtimes use torch's CPU thread
    count.
    """

    def __init__(self, model, manifest, weights_path, runtime):
        self.signature = graph_signature(model)
        self.path = onnx_file(model, manifest, weights_path)
        threads = torch.get_num_threads()
        if runtime == 'openvino':
            import openvino

            compiled = openvino.Core().compile_model(
                str(self.path), 'CPU', {'INFERENCE_NUM_THREADS': threads,
                                        'INFERENCE_PRECISION_HINT': 'f32'})
            request = compiled.create_infer_request()
            self._run = lambda feed: list(request.infer(feed).to_tuple())
        else:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            session = onnxruntime.InferenceSession(str(self.path), options,
                                                   providers=['CPUExecutionProvider'])
            self._run = lambda feed: session.run(None, feed)

    def __call__(self, *inputs):
        """Return the outputs for CPU tensors ``inputs`` (see the class)."""
        feed = {name: tensor.detach().float().contiguous().numpy()
                for name, tensor in zip(self.signature.input_names, inputs)}
        outputs = [torch.from_numpy(output) for output in self._run(feed)]
        if self.signature.returns_dict:
            return dict(zip(self.signature.output_names, outputs))
        return outputs[0]
