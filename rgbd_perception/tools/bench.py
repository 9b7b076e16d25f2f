"""Latency benchmarks of the stages (``rgbd-perception bench``); prints median, p90, p99."""

import importlib
from pathlib import Path
import sys
import time

import numpy as np

from rgbd_perception.geometry.camera import Intrinsics


def latency_summary(seconds):
    """Return {'median', 'p90', 'p99', 'mean'} in milliseconds of a list of durations."""
    ms = 1000.0 * np.asarray(seconds, dtype=np.float64)
    return {'median': float(np.median(ms)), 'p90': float(np.percentile(ms, 90)),
            'p99': float(np.percentile(ms, 99)), 'mean': float(ms.mean()), 'n': int(ms.size)}


def format_summary(label, summary):
    """One line: label, frame count, median/p90/p99 in ms."""
    return (f"{label:<36} n={summary['n']:<4} median {summary['median']:8.2f} ms   "
            f"p90 {summary['p90']:8.2f} ms   p99 {summary['p99']:8.2f} ms")


class BenchReport:
    """The rows of one benchmark run: each printed when measured, all as one table at the end."""

    def __init__(self):
        self.rows = []

    def add(self, label, summary):
        """Print and keep one row: label and a :func:`latency_summary`."""
        print(format_summary(label, summary))
        self.rows.append((label, summary))

    def table(self):
        """Return the rows as one Markdown table: label, n, median, p90, p99 in ms."""
        lines = ['| what | n | median ms | p90 ms | p99 ms |', '|---|---|---|---|---|']
        lines += [f"| {label} | {summary['n']} | {summary['median']:.2f} | "
                  f"{summary['p90']:.2f} | {summary['p99']:.2f} |"
                  for label, summary in self.rows]
        return '\n'.join(lines)


def _per_object(summary, objects):
    """Return a frame :func:`latency_summary` divided by the mean objects per frame."""
    return {key: value / objects if key != 'n' else value for key, value in summary.items()}


def _runtimes(args):
    """Return the runtimes to time: --runtime first, then the others check_runtime allows."""
    from rgbd_perception.runtime.device import resolve_device
    from rgbd_perception.runtime.onnx_models import check_runtime, RUNTIMES

    device = resolve_device(args.device)

    def usable(name):
        try:
            check_runtime(name, device, args.half)
        except ValueError:
            return False
        return True

    return [args.runtime] + [name for name in RUNTIMES if name != args.runtime and usable(name)]


def _time_calls(function, inputs, frames, warmup, synchronise=lambda: None):
    for index in range(warmup):
        function(inputs[index % len(inputs)])
    synchronise()
    durations = []
    for index in range(frames):
        start = time.perf_counter()
        function(inputs[index % len(inputs)])
        synchronise()
        durations.append(time.perf_counter() - start)
    return durations


def _bench_frames(args):
    """Depth frames (uint16), Intrinsics and depth scale to time: files or the bundled sample."""
    if args.depth:
        from rgbd_perception.io.images import read_depth

        if args.intrinsics is None:
            raise ValueError('--intrinsics is required with --depth')
        return [read_depth(p) for p in args.depth], args.intrinsics, args.depth_scale
    from rgbd_perception.tools.sample_scene import sample_frame

    frames = [sample_frame(i, num_frames=10) for i in range(10)]
    return [f.depth_mm for f in frames], Intrinsics(*frames[0].intrinsics), 0.001


def _baseline_port(directory):
    """Import ``getHHA`` of the public Python port from a checkout (not shipped)."""
    directory = Path(directory).resolve()
    if not (directory / 'getHHA.py').is_file():
        raise ValueError(f'{directory}: not a Depth2HHA-python checkout (no getHHA.py)')
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module('getHHA').getHHA
    finally:
        sys.path.remove(str(directory))


def run_hha_benchmark(args, report=None):
    """
    Time the HHA stage and, in the same run, its baselines.

    On the CPU also its torch kernels (what the numba kernels replace); optionally the
    public Python port and the node's ROS overhead.
    """
    import torch

    from rgbd_perception.stages.hha import HhaStage

    depths, intrinsics, scale = _bench_frames(args)
    stage = HhaStage(device=args.device, compile_kernels=args.compile)
    height, width = depths[0].shape
    sync = torch.cuda.synchronize if stage.device.type == 'cuda' else (lambda: None)
    print(f'HHA benchmark: {width}x{height}, device {stage.device}, compile {args.compile}, '
          f'torch threads {torch.get_num_threads()}')
    ours = latency_summary(_time_calls(
        lambda d: stage(d, intrinsics, depth_scale=scale), depths, args.frames, args.warmup,
        sync))
    report = report or BenchReport()
    report.add(f'rgbd_perception HHA ({stage.device})', ours)
    if stage.encoder.numba_kernels is not None and stage.device.type == 'cpu':
        torch_stage = HhaStage(device='cpu', use_numba=False)
        eager = latency_summary(_time_calls(
            lambda d: torch_stage(d, intrinsics, depth_scale=scale), depths, args.frames,
            args.warmup))
        report.add('rgbd_perception HHA (torch kernels)', eager)
    if args.baseline_port:
        get_hha = _baseline_port(args.baseline_port)
        camera = intrinsics.with_origin(1).matrix()  # the port follows MATLAB's 1-based grid
        metres = [d.astype(np.float64) * scale for d in depths]
        port = latency_summary(_time_calls(lambda d: get_hha(camera, d, d), metres,
                                           args.baseline_frames, 0))
        report.add('public Python port (getHHA)', port)
        print(f"speed-up (median): {port['median'] / ours['median']:.1f}x")
    if args.node_overhead:
        from rgbd_perception.ros.overhead import measure_node_overhead

        hha = stage(depths[0], intrinsics, depth_scale=scale)
        for label, durations in measure_node_overhead(depths[0], hha, args.frames).items():
            report.add(label, latency_summary(durations))


def _completion_frames(args):
    """(rgb, depth, depth scale) lists to time: files or the bundled ray-cast sample (VGA)."""
    if args.depth:
        from rgbd_perception.io.images import read_depth, read_rgb

        if not args.rgb or len(args.rgb) != len(args.depth):
            raise ValueError('--rgb needs one colour file per --depth')
        return [read_rgb(p) for p in args.rgb], [read_depth(p) for p in args.depth], \
            args.depth_scale
    from rgbd_perception.tools.sample_scene import sample_frame

    frames = [sample_frame(i, num_frames=10) for i in range(10)]
    return [f.rgb for f in frames], [f.depth_mm for f in frames], 0.001


def run_completion_benchmark(args, report=None):
    """Time the learned completion and, in the same run, the IP-Basic baseline."""
    import torch

    from rgbd_perception.stages.completion import CompletionStage

    rgbs, depths, scale = _completion_frames(args)
    height, width = depths[0].shape
    pairs = list(zip(rgbs, depths))
    report = report or BenchReport()
    timed = {}
    for runtime in _runtimes(args):
        model = CompletionStage('model', weights=args.weights, device=args.device,
                                half=args.half, downsample=args.downsample, runtime=runtime)
        sync = torch.cuda.synchronize if model.device.type == 'cuda' else (lambda: None)
        manifest = model.manifest
        print(f'completion benchmark: {width}x{height}, device {model.device}, fp16 '
              f"{model.half}, model {manifest['architecture']} "
              f"{manifest['model_kwargs'].get('size')} at 1/{model.downsample} size, runtime "
              f'{runtime}, torch threads {torch.get_num_threads()}')
        summary = latency_summary(_time_calls(lambda pair: model(*pair, depth_scale=scale),
                                              pairs, args.frames, args.warmup, sync))
        report.add(f'VanishingDepthNet ({model.device}, {runtime})', summary)
        timed[runtime] = summary
    ours = timed[args.runtime]
    classical = CompletionStage('ip_basic')
    baseline = latency_summary(_time_calls(lambda pair: classical(*pair, depth_scale=scale),
                                           pairs, args.frames, args.warmup))
    report.add('IP-Basic (cpu)', baseline)
    print(f"model / IP-Basic time (median): {ours['median'] / baseline['median']:.2f}")


def run_mono_depth_benchmark(args, report=None):
    """Time monocular depth per frame (--rgb files with --intrinsics, or the VGA sample)."""
    import torch

    from rgbd_perception.stages.mono_depth import MonoDepthStage

    if args.rgb:
        from rgbd_perception.io.images import read_rgb

        if args.intrinsics is None:
            raise ValueError('--intrinsics is required with --rgb')
        rgbs, intrinsics = [read_rgb(p) for p in args.rgb], args.intrinsics
    else:
        from rgbd_perception.tools.sample_scene import sample_frame

        frames = [sample_frame(i, num_frames=10) for i in range(10)]
        rgbs, intrinsics = [f.rgb for f in frames], Intrinsics(*frames[0].intrinsics)
    height, width = rgbs[0].shape[:2]
    report = report or BenchReport()
    for runtime in _runtimes(args):
        stage = MonoDepthStage(args.weights, device=args.device, half=args.half,
                               runtime=runtime)
        sync = torch.cuda.synchronize if stage.device.type == 'cuda' else (lambda: None)
        kwargs = stage.manifest['model_kwargs']
        print(f'mono-depth benchmark: {width}x{height}, device {stage.device}, fp16 '
              f"{stage.half}, model {stage.manifest['architecture']} "
              f"{kwargs.get('architecture')} at width {stage.input_width}, runtime {runtime}, "
              f'torch threads {torch.get_num_threads()}')
        summary = latency_summary(_time_calls(lambda rgb: stage(rgb, intrinsics), rgbs,
                                              args.frames, args.warmup, sync))
        report.add(f'MonoDepthNet ({stage.device}, {runtime})', summary)


def _pose_frames(sample_dir):
    """Return [(rgb, depth mm, intrinsics, [Detection])] of a BOP scene folder (GT boxes)."""
    from rgbd_perception.geometry.detections import Detection
    from rgbd_perception.io.bop import BopScene, read_bop_sequence

    scene = BopScene(sample_dir)
    return [(frame.rgb, frame.depth_mm, frame.intrinsics,
             [Detection(truth.obj_id, tuple(info['bbox_visib']), mask)
              for truth, info, mask in scene.visible_objects(frame.index, min_pixels=200)])
            for frame in read_bop_sequence(sample_dir)]


def run_pose_benchmark(args, report=None):
    """Time the pose stage per frame and per object, given detections and built-in detector."""
    import torch

    from rgbd_perception.io.catalogue import load_catalogue
    from rgbd_perception.io.data_paths import data_file
    from rgbd_perception.stages.pose import PoseStage

    if not Path(args.sample_dir).is_dir():
        raise ValueError(f'{args.sample_dir}: no BOP scene folder (render the bundled sample: '
                         'python -m training sample --out .cache/sample)')
    frames = _pose_frames(args.sample_dir)
    catalogue = load_catalogue(data_file(args.objects or 'config/objects/demo.yaml'),
                               args.mesh_dir)
    objects = float(np.mean([len(f[3]) for f in frames]))
    report = report or BenchReport()
    runs = [(True, runtime) for runtime in _runtimes(args)] + [(False, args.runtime)]
    for refine, runtime in runs:
        stage = PoseStage(catalogue, args.weights, device=args.device, refine=refine,
                          hypotheses=args.hypotheses, runtime=runtime)
        sync = torch.cuda.synchronize if stage.device.type == 'cuda' else (lambda: None)
        if refine and runtime == args.runtime:
            print(f'pose benchmark: {len(frames)} frames of {args.sample_dir}, '
                  f'{objects:.1f} objects per frame, device {stage.device}, crops '
                  f'{stage.model.crop_size} px {stage.model.input_mode}, ICP starts '
                  f'{stage.hypotheses}, torch threads '
                  f'{torch.get_num_threads()}')
        label = f"{'ICP' if refine else 'no ICP'}, {runtime}"
        given = latency_summary(_time_calls(
            lambda f: stage(f[0], f[1], f[2], f[3]), frames, args.frames, args.warmup, sync))
        report.add(f'pose, given detections, {label}, frame', given)
        report.add(f'pose, given detections, {label}, per object', _per_object(given, objects))
        if runtime == args.runtime:
            built_in = latency_summary(_time_calls(
                lambda f: stage(f[0], f[1], f[2]), frames, args.frames, args.warmup, sync))
            report.add(f'pose, built-in detector, {label}, frame', built_in)


def run_all_benchmarks(args):
    """
    Time every stage on the bundled sample with its baselines, then print one table.

    HHA (numba and torch kernels; the public port with --baseline-port), completion with
    IP-Basic, monocular depth, poses (needs the rendered sample of ``--sample-dir``).
    """
    if args.weights or args.depth or args.rgb:
        raise ValueError('bench all times the bundled weights on the bundled sample: '
                         '--weights, --depth and --rgb belong to single-stage benchmarks')
    report = BenchReport()
    for run in (run_hha_benchmark, run_completion_benchmark, run_mono_depth_benchmark,
                run_pose_benchmark):
        run(args, report)
    print(f'\nall stages, device {args.device}, {args.frames} timed frames each:')
    print(report.table())
