"""The ``runtime: onnxruntime|openvino`` options: models exported to ONNX give torch's outputs."""

import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch

from rgbd_perception.geometry.detections import Detection
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import share_path
from rgbd_perception.models.pose import PoseNet
from rgbd_perception.runtime.onnx_models import check_runtime, export_onnx
from rgbd_perception.runtime.weights import ExportError, load_exported
from rgbd_perception.stages.completion import BUNDLED_WEIGHTS, CompletionStage
from rgbd_perception.stages.mono_depth import MonoDepthStage
from rgbd_perception.stages.pose import PoseStage
from rgbd_perception.tools.sample_scene import sample_frame

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

#: Stated tolerances (metres): float32 kernels of two runtimes differ in summation order.
COMPLETION_TOLERANCE = 1e-4
MONO_TOLERANCE = 1e-3
#: Pose network outputs (unit vectors, logits, rotation entries) and refined poses (m).
POSE_TOLERANCE = 1e-4
EXPORTED_RUNTIMES = [pytest.param(name, marks=pytest.mark.skipif(
    importlib.util.find_spec(name) is None, reason=f'{name} not installed'))
    for name in ('onnxruntime', 'openvino')]


@pytest.fixture(scope='module')
def frame():
    """Return a VGA frame of the ray-cast sample (colour, depth in mm, intrinsics)."""
    return sample_frame(0, num_frames=10)


@pytest.mark.parametrize('runtime', EXPORTED_RUNTIMES)
def test_completion_equals_torch(frame, runtime):
    """The bundled completion model through each runtime: torch's depth within 0.1 mm."""
    torch_stage = CompletionStage(device='cpu')
    onnx_stage = CompletionStage(device='cpu', runtime=runtime)
    small = (frame.rgb[:301, :397].copy(), frame.depth_mm[:301, :397].copy())  # other size
    for rgb, depth in ((frame.rgb, frame.depth_mm), small):
        expected, found = torch_stage(rgb, depth), onnx_stage(rgb, depth)
        assert found.shape == expected.shape and found.dtype == np.float32
        np.testing.assert_allclose(found, expected, rtol=0, atol=COMPLETION_TOLERANCE)
    record = json.loads(onnx_stage.model.path.with_suffix('.json').read_text())
    assert record['max_abs_difference_from_torch'] < COMPLETION_TOLERANCE
    assert record['input_names'] == ['rgb', 'depth'] and record['opset'] >= 17


@pytest.mark.parametrize('runtime', EXPORTED_RUNTIMES)
def test_mono_depth_equals_torch(frame, runtime):
    """The bundled monocular model through each runtime: torch's depth within 1 mm."""
    intrinsics = frame.intrinsics
    expected = MonoDepthStage(device='cpu')(frame.rgb, intrinsics)
    found = MonoDepthStage(device='cpu', runtime=runtime)(frame.rgb, intrinsics)
    assert found.shape == expected.shape
    np.testing.assert_allclose(found, expected, rtol=0, atol=MONO_TOLERANCE)


@pytest.mark.parametrize('runtime', EXPORTED_RUNTIMES)
def test_pose_network_and_poses_equal_torch(runtime, untrained_pose_weights, ball_frame):
    """The PoseNet dict of outputs, then the refined poses, through each runtime equal torch's."""
    rgb, depth, k, _, _, bbox, mask = ball_frame
    catalogue = load_catalogue(share_path('config', 'objects', 'demo.yaml'))
    torch_stage = PoseStage(catalogue, untrained_pose_weights['rgbd'], device='cpu')
    onnx_stage = PoseStage(catalogue, untrained_pose_weights['rgbd'], device='cpu',
                           runtime=runtime)
    crops = torch.rand(3, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected, found = torch_stage.model(crops), onnx_stage.network(crops)
    assert list(found) == list(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(found[name], value, rtol=0, atol=POSE_TOLERANCE)
    detections = [Detection(1104, bbox, mask)]
    (want,) = torch_stage(rgb, depth.astype(np.float32), k, detections)
    (got,) = onnx_stage(rgb, depth.astype(np.float32), k, detections)
    assert got.obj_id == want.obj_id
    np.testing.assert_allclose(got.translation, want.translation, rtol=0, atol=POSE_TOLERANCE)
    np.testing.assert_allclose(got.rotation, want.rotation, rtol=0, atol=POSE_TOLERANCE)


def test_mask_head_output_is_exported(tmp_path):
    """A PoseNet with a mask head exports all five outputs, batch size free, close to torch."""
    torch.manual_seed(0)
    model = PoseNet(3, crop_size=32, backbone='mobilenet_v3_small', mask_head=True).eval()
    record = export_onnx(model, tmp_path / 'posenet.onnx')
    assert record['output_names'] == ['embedding', 'logits', 'rotation', 'raw', 'mask_logits']
    assert record['max_abs_difference_from_torch'] < POSE_TOLERANCE
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / 'posenet.onnx'),
                                           providers=['CPUExecutionProvider'])
    crops = torch.rand(5, 4, 32, 32)
    mask_logits = session.run(['mask_logits'], {'crops': crops.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(mask_logits, model(crops)['mask_logits'], rtol=0,
                                   atol=POSE_TOLERANCE)


def test_onnx_command_records_the_file_the_runtimes_load(tmp_path, frame, capsys):
    """`python -m training onnx`: the file beside the weights, in the manifest, used, checked."""
    from training.cli import main

    weights = tmp_path / 'completion.safetensors'
    shutil.copy(BUNDLED_WEIGHTS, weights)
    shutil.copy(BUNDLED_WEIGHTS.with_suffix('.json'), weights.with_suffix('.json'))
    assert main(['onnx', '--weights', str(weights)]) == 0
    assert 'completion.onnx' in capsys.readouterr().out
    _, manifest = load_exported(weights)  # re-hashed: the loader accepts it
    record = manifest['onnx']
    assert record['file'] == 'completion.onnx' and record['opset'] >= 17
    assert record['max_abs_difference_from_torch'] < COMPLETION_TOLERANCE
    assert record['written_by']['command'].split()[3:5] == ['onnx', '--weights']
    stage = CompletionStage(weights=weights, device='cpu', runtime='onnxruntime')
    assert stage.model.path == weights.with_suffix('.onnx')
    np.testing.assert_allclose(stage(frame.rgb, frame.depth_mm),
                               CompletionStage(weights=weights, device='cpu')(frame.rgb,
                                                                              frame.depth_mm),
                               rtol=0, atol=COMPLETION_TOLERANCE)
    with open(weights.with_suffix('.onnx'), 'ab') as onnx_file:
        onnx_file.write(b'\0')
    with pytest.raises(ExportError, match='ONNX file was modified'):
        CompletionStage(weights=weights, device='cpu', runtime='onnxruntime')
    assert main(['onnx', '--weights', str(tmp_path / 'missing.safetensors')]) == 2
    assert 'not found' in capsys.readouterr().err


def test_a_missing_runtime_package_is_named(monkeypatch):
    """Without the openvino package (a ROS install): a clear error naming it, torch still runs."""
    from rgbd_perception.runtime import onnx_models

    real = onnx_models.importlib.util.find_spec
    monkeypatch.setattr(onnx_models.importlib.util, 'find_spec',
                        lambda name: None if name == 'openvino' else real(name))
    with pytest.raises(ValueError, match='runtime openvino needs the openvino package'):
        CompletionStage(device='cpu', runtime='openvino')
    check_runtime('torch', torch.device('cpu'))


def test_runtime_choices_are_checked():
    """An unknown runtime, or ONNX Runtime asked for fp16: a clear error before any work."""
    with pytest.raises(ValueError, match='unknown runtime'):
        check_runtime('tensorrt', torch.device('cpu'))
    with pytest.raises(ValueError, match='runs on the CPU in fp32'):
        check_runtime('onnxruntime', torch.device('cpu'), half=True)
    check_runtime('onnxruntime', torch.device('cpu'))
    with pytest.raises(ValueError, match='needs exported weights'):
        PoseStage(load_catalogue(share_path('config', 'objects', 'demo.yaml')), device='cpu',
                  network=(PoseNet(6, crop_size=32, backbone='mobilenet_v3_small'), range(6)),
                  runtime='openvino')


def test_cli_and_nodes_offer_the_runtime(frame, tmp_path):
    """`complete --runtime onnxruntime` writes torch's depth; nodes declare `runtime`."""
    from rgbd_perception.cli import main
    from rgbd_perception.io.images import write_depth_png, write_rgb
    from rgbd_perception.ros.depth_completion_node import COMPLETION_PARAMETERS
    from rgbd_perception.ros.mono_depth_node import MONO_DEPTH_PARAMETERS
    from rgbd_perception.ros.pose_node import POSE_PARAMETERS

    write_rgb(tmp_path / 'a.png', frame.rgb)
    write_depth_png(tmp_path / 'a_depth.png', frame.depth_mm)
    assert main(['complete', '--rgb', str(tmp_path / 'a.png'), '--depth',
                 str(tmp_path / 'a_depth.png'), '--out', str(tmp_path / 'out.npy'),
                 '--device', 'cpu', '--runtime', 'onnxruntime']) == 0
    expected = CompletionStage(device='cpu')(frame.rgb, frame.depth_mm)
    np.testing.assert_allclose(np.load(tmp_path / 'out.npy'), expected, rtol=0,
                               atol=COMPLETION_TOLERANCE)
    for parameters in (COMPLETION_PARAMETERS, MONO_DEPTH_PARAMETERS, POSE_PARAMETERS):
        assert {spec.name: spec.default for spec in parameters}['runtime'] == 'torch'
