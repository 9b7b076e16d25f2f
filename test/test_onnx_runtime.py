"""The ``runtime: onnxruntime`` option: models exported to ONNX give torch's outputs."""

import json

import numpy as np
import pytest
import torch

from rgbd_perception.runtime.onnx_models import check_runtime
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.mono_depth import MonoDepthStage
from rgbd_perception.tools.sample_scene import sample_frame

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

#: Stated tolerances (metres): float32 kernels of two runtimes differ in summation order.
COMPLETION_TOLERANCE = 1e-4
MONO_TOLERANCE = 1e-3


@pytest.fixture(scope='module')
def frame():
    """Return a VGA frame of the ray-cast sample (colour, depth in mm, intrinsics)."""
    return sample_frame(0, num_frames=10)


def test_completion_equals_torch(frame):
    """The bundled completion model through ONNX Runtime: torch's depth within 0.1 mm."""
    torch_stage = CompletionStage(device='cpu')
    onnx_stage = CompletionStage(device='cpu', runtime='onnxruntime')
    small = (frame.rgb[:301, :397].copy(), frame.depth_mm[:301, :397].copy())  # other size
    for rgb, depth in ((frame.rgb, frame.depth_mm), small):
        expected, found = torch_stage(rgb, depth), onnx_stage(rgb, depth)
        assert found.shape == expected.shape and found.dtype == np.float32
        np.testing.assert_allclose(found, expected, rtol=0, atol=COMPLETION_TOLERANCE)
    record = json.loads(onnx_stage.model.path.with_suffix('.json').read_text())
    assert record['max_abs_difference_from_torch'] < COMPLETION_TOLERANCE
    assert record['input_names'] == ['rgb', 'depth'] and record['opset'] >= 17


def test_mono_depth_equals_torch(frame):
    """The bundled monocular model through ONNX Runtime: torch's depth within 1 mm."""
    intrinsics = frame.intrinsics
    expected = MonoDepthStage(device='cpu')(frame.rgb, intrinsics)
    found = MonoDepthStage(device='cpu', runtime='onnxruntime')(frame.rgb, intrinsics)
    assert found.shape == expected.shape
    np.testing.assert_allclose(found, expected, rtol=0, atol=MONO_TOLERANCE)


def test_runtime_choices_are_checked():
    """An unknown runtime, or ONNX Runtime asked for fp16: a clear error before any work."""
    with pytest.raises(ValueError, match='unknown runtime'):
        check_runtime('tensorrt', torch.device('cpu'))
    with pytest.raises(ValueError, match='runs on the CPU in fp32'):
        check_runtime('onnxruntime', torch.device('cpu'), half=True)
    check_runtime('onnxruntime', torch.device('cpu'))


def test_cli_and_nodes_offer_the_runtime(frame, tmp_path):
    """`complete --runtime onnxruntime` writes torch's depth; nodes declare `runtime`."""
    from rgbd_perception.cli import main
    from rgbd_perception.io.images import write_depth_png, write_rgb
    from rgbd_perception.ros.depth_completion_node import COMPLETION_PARAMETERS
    from rgbd_perception.ros.mono_depth_node import MONO_DEPTH_PARAMETERS

    write_rgb(tmp_path / 'a.png', frame.rgb)
    write_depth_png(tmp_path / 'a_depth.png', frame.depth_mm)
    assert main(['complete', '--rgb', str(tmp_path / 'a.png'), '--depth',
                 str(tmp_path / 'a_depth.png'), '--out', str(tmp_path / 'out.npy'),
                 '--device', 'cpu', '--runtime', 'onnxruntime']) == 0
    expected = CompletionStage(device='cpu')(frame.rgb, frame.depth_mm)
    np.testing.assert_allclose(np.load(tmp_path / 'out.npy'), expected, rtol=0,
                               atol=COMPLETION_TOLERANCE)
    for parameters in (COMPLETION_PARAMETERS, MONO_DEPTH_PARAMETERS):
        assert {spec.name: spec.default for spec in parameters}['runtime'] == 'torch'
