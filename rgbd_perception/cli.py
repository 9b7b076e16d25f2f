"""
The ``rgbd-perception`` command line: offline stages, nodes without a ROS install, benchmarks.

Commands: ``hha``, ``complete``, ``mono-depth``, ``pose``, ``node``, ``bench``,
``demo``, ``replay``.  Errors print one
clear line and exit non-zero; with several inputs every good frame is still written.
"""

import argparse
import importlib
from pathlib import Path
import sys
import time

import numpy as np

from rgbd_perception.errors import InputError
from rgbd_perception.runtime.device import DEVICE_CHOICES
from rgbd_perception.runtime.onnx_models import RUNTIME_HELP, RUNTIMES
from rgbd_perception.stages.pipeline import OUTPUTS as PIPELINE_OUTPUTS

#: node name -> module with a ``main(args)`` (``rgbd-perception node <name> --ros-args ...``).
NODES = {'hha': 'rgbd_perception.ros.hha_node',
         'depth_completion': 'rgbd_perception.ros.depth_completion_node',
         'pose': 'rgbd_perception.ros.pose_node',
         'mono_depth': 'rgbd_perception.ros.mono_depth_node',
         'perception': 'rgbd_perception.ros.perception_node'}


class CommandError(Exception):
    """A user-facing error of a command (printed without a traceback)."""


def _add_device(parser, compile_option=True):
    choices = ', '.join(DEVICE_CHOICES)
    parser.add_argument('--device', default='auto',
                        help=f'compute device: {choices} or cuda:N (default: auto)')
    if compile_option:
        parser.add_argument('--compile', action='store_true',
                            help='fuse per-pixel kernels with torch.compile (one-off compile '
                                 'of tens of seconds per image size)')


def _add_runtime(parser):
    parser.add_argument('--runtime', choices=RUNTIMES, default='torch', help=RUNTIME_HELP)


def _add_completion_options(parser, method_option=True):
    if method_option:
        parser.add_argument('--method', choices=('model', 'ip_basic'), default='model',
                            help='learned model (default) or classical IP-Basic filling')
        parser.add_argument('--replace-measured', action='store_true',
                            help='output the model everywhere (default: measured pixels '
                                 'keep their value)')
    parser.add_argument('--weights', help='exported weights (.safetensors) of the model (default: '
                        'the bundled small model)')
    parser.add_argument('--half', action='store_true', help='fp16 on CUDA')
    _add_runtime(parser)
    parser.add_argument('--downsample', type=int, default=0,
                        help='the model runs at the input size / this factor (default 0: '
                             "the factor the weights' manifest names)")


def _add_intrinsics(parser, required=True):
    parser.add_argument('--intrinsics', nargs=4, type=float, required=required,
                        metavar=('FX', 'FY', 'CX', 'CY'),
                        help='pinhole intrinsics in pixels; CX, CY in the --pixel-origin '
                             'convention')
    parser.add_argument('--pixel-origin', type=int, choices=(0, 1), default=0,
                        help='coordinate of the first pixel centre that CX, CY count from: 0 '
                             '(default; OpenCV, ROS camera_info) or 1 (MATLAB: the NYU Depth '
                             'v2 toolbox, the reference HHA code)')


def _parse_intrinsics(args):
    """Replace the 4 numbers of args.intrinsics, where given, by Intrinsics of --pixel-origin."""
    if getattr(args, 'intrinsics', None) is not None:
        from rgbd_perception.geometry.camera import Intrinsics

        args.intrinsics = Intrinsics(*args.intrinsics, pixel_origin=args.pixel_origin)


def _add_depth_outputs(parser, stem_of):
    outputs = parser.add_mutually_exclusive_group(required=True)
    outputs.add_argument('--out', help='output file for one frame: .png (uint16 mm) or .npy '
                         '(float32 m)')
    outputs.add_argument('--out-dir', help=f'writes OUT_DIR/<{stem_of} stem>.<--format>')
    parser.add_argument('--format', choices=('npy', 'png'), default='npy',
                        help='file type with --out-dir (default npy: float32 metres)')


def _check_depth_outputs(args, frames):
    """Raise CommandError when --out is given for several frames or has a foreign suffix."""
    if args.out is not None and frames != 1:
        raise CommandError('--out takes one frame; use --out-dir for several')
    if args.out is not None and Path(args.out).suffix.lower() not in ('.png', '.npy'):
        raise CommandError(f'--out must end in .png or .npy: {args.out}')


def _write_depth(args, input_path, metres):
    """Write (H, W) metres to --out or OUT_DIR/<input stem>.<--format>; return the path."""
    from rgbd_perception.io.images import to_depth_mm, write_depth_png

    target = Path(args.out) if args.out is not None else \
        Path(args.out_dir) / f'{Path(input_path).stem}.{args.format}'
    if target.suffix.lower() == '.png':
        write_depth_png(target, to_depth_mm(metres))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, metres.astype(np.float32))
    return target


def _add_depth_scale(parser):
    parser.add_argument('--depth-scale', type=float, default=0.001,
                        help='metres per unit of 16-bit depth PNGs (default 0.001 = mm)')


def build_parser():
    """Return the argparse parser of every command."""
    parser = argparse.ArgumentParser(prog='rgbd-perception', description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)

    hha = commands.add_parser('hha', help='HHA images from depth files')
    hha.add_argument('--depth', nargs='+', required=True, help='depth files (PNG or .npy)')
    hha.add_argument('--raw-depth', nargs='+',
                     help='raw depth files, one per --depth, whose zeros mark missing pixels')
    hha.add_argument('--out-dir', required=True, help='writes OUT_DIR/<stem>.png')
    hha.add_argument('--gravity', nargs=3, type=float, metavar=('GX', 'GY', 'GZ'),
                     help='fixed gravity direction (down) in the camera frame; default: '
                          'estimated per frame')
    _add_intrinsics(hha)
    _add_depth_scale(hha)
    _add_device(hha)

    complete = commands.add_parser('complete', help='hole-free depth from colour + depth files')
    complete.add_argument('--rgb', nargs='+', help='colour files, one per --depth (registered '
                          'to the depth); not needed with --method ip_basic')
    complete.add_argument('--depth', nargs='+', required=True, help='depth files (PNG or .npy)')
    _add_depth_outputs(complete, 'depth')
    _add_completion_options(complete)
    _add_depth_scale(complete)
    _add_device(complete, compile_option=False)

    mono = commands.add_parser('mono-depth', help='metric depth from colour files alone')
    mono.add_argument('--rgb', nargs='+', required=True, help='colour files')
    _add_depth_outputs(mono, 'colour')
    mono.add_argument('--weights', help='exported weights (.safetensors) of a MonoDepthNet '
                      '(default: the bundled ones)')
    mono.add_argument('--sparse-depth', nargs='+', help='depth files, one per --rgb, whose '
                      'median sets the scale (optional)')
    mono.add_argument('--half', action='store_true', help='fp16 on CUDA')
    _add_runtime(mono)
    _add_intrinsics(mono)
    _add_depth_scale(mono)
    _add_device(mono, compile_option=False)

    pose = commands.add_parser('pose', help='6-DoF poses of catalogue objects in colour (+ '
                               'depth) files')
    pose.add_argument('--rgb', nargs='+', required=True, help='colour files')
    pose.add_argument('--depth', nargs='+', help='depth files registered to the colour, one '
                      'per --rgb (PNG or .npy); without: RGB only (needs --detections and '
                      'RGB weights)')
    pose.add_argument('--objects', required=True, help='object catalogue YAML: a path, or '
                      'relative to the package share folder (e.g. config/objects/lmo.yaml)')
    pose.add_argument('--mesh-dir', help='folder of the meshes (replaces the mesh_dir of the '
                      'catalogue)')
    pose.add_argument('--detections', nargs='+', help='BOP-style detections JSON, one per '
                      '--rgb; default: the built-in detector (needs depth)')
    pose_out = pose.add_mutually_exclusive_group(required=True)
    pose_out.add_argument('--out', help='poses JSON of one frame')
    pose_out.add_argument('--out-dir', help='writes OUT_DIR/<colour stem>.json per frame')
    pose.add_argument('--weights', help='exported PoseNet .safetensors (default: those the '
                      'catalogue names)')
    pose.add_argument('--no-refine', action='store_true', help='skip the ICP refinement')
    pose.add_argument('--hypotheses', type=int, default=4,
                      help="starting rotations of the ICP refinement: the network's and "
                           'distinct nearest templates of the bank beside the weights '
                           "(default 4; 1 = the network's only)")
    pose.add_argument('--rotation-source',
                      choices=('regression', 'nearest_neighbour', 'feature_templates'),
                      default='regression',
                      help="rotation from the network's regression head (default), from the "
                           'nearest template on learned features (needs the template bank '
                           'beside the weights: python -m training templates) or from the '
                           'nearest rendered template on ImageNet features (needs '
                           '--feature-templates; transfers best to real cameras)')
    pose.add_argument('--feature-templates', help='feature template bank .safetensors of '
                      '--rotation-source feature_templates (python -m training '
                      'feature-templates)')
    pose.add_argument('--min-score', type=float, default=0.5,
                      help='built-in detector: drop candidates below this identity '
                           'probability (default 0.5)')
    _add_intrinsics(pose)
    _add_depth_scale(pose)
    _add_device(pose, compile_option=False)
    _add_runtime(pose)

    node = commands.add_parser('node', help='start a node without a ROS install (venv mode)')
    node.add_argument('name', choices=sorted(NODES))
    node.add_argument('ros_args', nargs=argparse.REMAINDER,
                      help='--ros-args ... (remaps, __ns, -p, --params-file)')

    bench = commands.add_parser('bench', help='latency statistics of a stage')
    bench.add_argument('stage', choices=['hha', 'completion', 'mono-depth', 'pose', 'pipeline',
                                         'all'],
                       help='one stage, the pipeline node, or all stages in one table')
    bench.add_argument('--frames', type=int, default=50, help='timed frames (default 50)')
    bench.add_argument('--warmup', type=int, default=3, help='untimed frames first')
    bench.add_argument('--depth', nargs='+', help='depth files to time (default: the '
                       'bundled synthetic sample at VGA)')
    bench.add_argument('--rgb', nargs='+', help='completion: colour files, one per --depth; '
                       'mono-depth: colour files (with --intrinsics)')
    bench.add_argument('--baseline-port', metavar='DIR',
                       help='checkout of the public Python HHA port (Depth2HHA-python) to '
                            'time on the same frames in this run')
    bench.add_argument('--baseline-frames', type=int, default=5,
                       help='frames timed for the baseline (default 5; ~3-6 s each)')
    bench.add_argument('--node-overhead', action='store_true',
                       help='also time decode + encode + publish of a VGA frame over rclpy')
    _add_intrinsics(bench, required=False)
    _add_completion_options(bench, method_option=False)
    bench.add_argument('--sample-dir', default='.cache/sample/000000',
                       help='pose: BOP scene folder whose ground-truth boxes are the given '
                            'detections (default: the bundled sample)')
    bench.add_argument('--objects', help='pose: object catalogue, as pose --objects (default: '
                       'the demo set)')
    bench.add_argument('--mesh-dir', help='pose: folder of the catalogue meshes')
    bench.add_argument('--hypotheses', type=int, default=4,
                       help='pose: starting rotations of the ICP refinement (default 4)')
    bench.add_argument('--seconds', type=float, default=30.0,
                       help='pipeline: measured seconds after the warm-up (default 30)')
    bench.add_argument('--rate', type=float, default=30.0,
                       help='pipeline: frames per second sent (default 30)')
    bench.add_argument('--node-parameter', action='append', default=[], metavar='NAME:=VALUE',
                       help='pipeline: a perception_node parameter (repeatable)')
    bench.add_argument('--json', help='pipeline: also write the results to this JSON file')
    _add_depth_scale(bench)
    _add_device(bench)

    replay = commands.add_parser('replay', help='run the pipeline over a ROS 2 recording and '
                                 'write its outputs with the inputs to MCAP')
    replay.add_argument('bag', help='rosbag2 recording: a folder (MCAP or sqlite3) or a .mcap '
                        'file')
    replay.add_argument('--rgb-topic', default='/camera/rgb/image_raw',
                        help='colour topic (default /camera/rgb/image_raw)')
    replay.add_argument('--depth-topic', default='/camera/depth/image_raw',
                        help='depth topic, registered to the colour (default '
                             '/camera/depth/image_raw)')
    replay.add_argument('--info-topic', default='/camera/rgb/camera_info',
                        help='camera_info of the colour (default /camera/rgb/camera_info)')
    replay.add_argument('--outputs', default=','.join(PIPELINE_OUTPUTS),
                        help=f'comma-separated subset of {",".join(PIPELINE_OUTPUTS)} '
                             '(default: all)')
    replay.add_argument('--out', required=True, type=Path,
                        help='OUT.mcap (one MCAP file) or a folder (rosbag2 with metadata)')
    replay.add_argument('--namespace', help='namespace of the output topics (default: what '
                        'precedes depth/image_raw in --depth-topic)')
    replay.add_argument('--objects', default='config/objects/demo.yaml',
                        help='poses: object catalogue YAML (default config/objects/demo.yaml)')
    replay.add_argument('--mesh-dir', help="poses: folder of the catalogue's meshes")
    _add_device(replay, compile_option=False)

    demo = commands.add_parser('demo', help='run the nodes on the bundled sample over ROS')
    demo.add_argument('--out-dir', default='demo_output', help='default: demo_output')
    demo.add_argument('--frames', type=int, default=30,
                      help='frames (default 30; with --sample-dir at most this many)')
    demo.add_argument('--sample-dir', metavar='DIR',
                      help='BOP scene folder to play, e.g. .cache/sample/000000 of `python -m '
                           'training sample` (default: the built-in ray-cast sequence)')
    _add_device(demo)
    return parser


def _process_frames(command, paths, process_frame):
    """
    Call process_frame(index, input path) -> (written path, ms) for every frame's input.

    A frame whose input is bad (InputError: unreadable file, unusable depth or colour, bad
    detections) is reported on one line naming its file; the others are still processed;
    CommandError at the end when any failed.
    """
    failures = 0
    for index, path in enumerate(paths):
        try:
            target, elapsed_ms = process_frame(index, path)
            print(f'{target}  ({elapsed_ms:.1f} ms)')
        except InputError as exc:
            failures += 1
            message = str(exc) if str(path) in str(exc) else f'{path}: {exc}'
            print(f'rgbd-perception {command}: error: {message}', file=sys.stderr)
    if failures:
        raise CommandError(f'{failures} of {len(paths)} frames failed')


def _run_hha(args):
    from rgbd_perception.io.images import read_depth, write_rgb
    from rgbd_perception.stages.hha import HhaStage

    if args.raw_depth is not None and len(args.raw_depth) != len(args.depth):
        raise CommandError(f'--raw-depth needs one file per --depth ({len(args.depth)}), '
                           f'got {len(args.raw_depth)}')
    stage = HhaStage(device=args.device, gravity=args.gravity, compile_kernels=args.compile)
    out_dir = Path(args.out_dir)

    def encode(index, depth_path):
        depth = read_depth(depth_path)
        raw = None if args.raw_depth is None else read_depth(args.raw_depth[index])
        start = time.perf_counter()
        hha = stage(depth, args.intrinsics, raw_depth=raw, depth_scale=args.depth_scale)
        elapsed_ms = 1000.0 * (time.perf_counter() - start)
        target = out_dir / f'{Path(depth_path).stem}.png'
        write_rgb(target, hha)
        return target, elapsed_ms

    _process_frames('hha', args.depth, encode)


def _run_complete(args):
    from rgbd_perception.io.images import read_depth, read_rgb
    from rgbd_perception.stages.completion import CompletionStage

    needs_rgb = args.method == 'model'
    if needs_rgb and (not args.rgb or len(args.rgb) != len(args.depth)):
        raise CommandError(f'--rgb needs one colour file per --depth ({len(args.depth)}) '
                           'for --method model')
    _check_depth_outputs(args, len(args.depth))
    stage = CompletionStage(args.method, weights=args.weights, device=args.device,
                            half=args.half, downsample=args.downsample,
                            keep_measured=not args.replace_measured, runtime=args.runtime)

    def complete(index, depth_path):
        rgb = read_rgb(args.rgb[index]) if needs_rgb else None
        depth = read_depth(depth_path)
        start = time.perf_counter()
        completed = stage(rgb, depth, depth_scale=args.depth_scale)
        elapsed_ms = 1000.0 * (time.perf_counter() - start)
        return _write_depth(args, depth_path, completed), elapsed_ms

    _process_frames('complete', args.depth, complete)


def _run_mono_depth(args):
    from rgbd_perception.io.images import read_depth, read_rgb
    from rgbd_perception.stages.mono_depth import MonoDepthStage

    if args.sparse_depth is not None and len(args.sparse_depth) != len(args.rgb):
        raise CommandError(f'--sparse-depth needs one file per --rgb ({len(args.rgb)}), got '
                           f'{len(args.sparse_depth)}')
    _check_depth_outputs(args, len(args.rgb))
    stage = MonoDepthStage(args.weights, device=args.device, half=args.half,
                           runtime=args.runtime)

    def estimate(index, rgb_path):
        rgb = read_rgb(rgb_path)
        sparse = None if args.sparse_depth is None else read_depth(args.sparse_depth[index])
        start = time.perf_counter()
        depth = stage(rgb, args.intrinsics, sparse, depth_scale=args.depth_scale)
        elapsed_ms = 1000.0 * (time.perf_counter() - start)
        return _write_depth(args, rgb_path, depth), elapsed_ms

    _process_frames('mono-depth', args.rgb, estimate)


def _run_pose(args):
    import json

    from rgbd_perception.io.catalogue import load_catalogue
    from rgbd_perception.io.data_paths import data_file
    from rgbd_perception.io.images import read_depth, read_rgb
    from rgbd_perception.io.pose_json import poses_to_json, read_detections
    from rgbd_perception.stages.pose import PoseStage

    for name in ('depth', 'detections'):
        files = getattr(args, name)
        if files is not None and len(files) != len(args.rgb):
            raise CommandError(f'--{name} needs one file per --rgb ({len(args.rgb)}), got '
                               f'{len(files)}')
    if args.out is not None and len(args.rgb) != 1:
        raise CommandError('--out takes one frame; use --out-dir for several')
    catalogue = load_catalogue(data_file(args.objects), args.mesh_dir)
    stage = PoseStage(catalogue, args.weights, device=args.device, refine=not args.no_refine,
                      min_score=args.min_score, rotation_source=args.rotation_source,
                      hypotheses=args.hypotheses, feature_templates=args.feature_templates,
                      runtime=args.runtime)

    def estimate(index, rgb_path):
        rgb = read_rgb(rgb_path)
        depth = None if args.depth is None else read_depth(args.depth[index])
        detections = None if args.detections is None else \
            read_detections(args.detections[index], rgb.shape[:2])
        start = time.perf_counter()
        estimates = stage(rgb, depth, args.intrinsics, detections,
                          depth_scale=args.depth_scale)
        elapsed_ms = 1000.0 * (time.perf_counter() - start)
        target = Path(args.out) if args.out is not None else \
            Path(args.out_dir) / f'{Path(rgb_path).stem}.json'
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(poses_to_json(estimates), indent=1) + '\n')
        return target, elapsed_ms

    _process_frames('pose', args.rgb, estimate)


def _run_node(args):
    from rgbd_perception.ros.environment import configure_venv_middleware

    configure_venv_middleware()
    module = importlib.import_module(NODES[args.name])
    module.main(args=[f'rgbd-perception-node-{args.name}'] + list(args.ros_args))


def _run_bench(args):
    if args.stage == 'pipeline':
        from rgbd_perception.ros.environment import configure_venv_middleware

        configure_venv_middleware()
        from rgbd_perception.tools.pipeline_bench import run_pipeline_benchmark

        run_pipeline_benchmark(args)
        return
    from rgbd_perception.tools import bench

    runners = {'hha': bench.run_hha_benchmark, 'completion': bench.run_completion_benchmark,
               'mono-depth': bench.run_mono_depth_benchmark, 'pose': bench.run_pose_benchmark,
               'all': bench.run_all_benchmarks}
    runners[args.stage](args)


def _run_replay(args):
    from rgbd_perception.io.catalogue import load_catalogue
    from rgbd_perception.io.data_paths import data_file
    from rgbd_perception.stages.pipeline import parse_outputs, PerceptionPipeline
    from rgbd_perception.tools.replay import replay

    outputs = parse_outputs(args.outputs)
    catalogue = load_catalogue(data_file(args.objects), args.mesh_dir) \
        if 'poses' in outputs else None
    pipeline = PerceptionPipeline(outputs, device=args.device, catalogue=catalogue)
    summary = replay(args.bag, args.out, pipeline,
                     (args.rgb_topic, args.depth_topic, args.info_topic), args.namespace,
                     log=lambda line: print(f'rgbd-perception replay: {line}', file=sys.stderr))
    per_frame = 1000.0 * summary['seconds'] / max(summary['frames'], 1)
    counts = ', '.join(f'{name} {count}' for name, count in summary['written'].items())
    print(f"{args.out}: {summary['frames']} frames ({per_frame:.0f} ms each), written: {counts}")
    if any(summary['skipped'].values()):
        skipped = ', '.join(f'{name} {count}' for name, count in summary['skipped'].items())
        raise CommandError(f'some frames were skipped ({skipped}); the rest is in {args.out}')


def _run_demo(args):
    from rgbd_perception.ros.environment import configure_venv_middleware

    if args.sample_dir is None:
        from rgbd_perception.tools.sample_scene import sample_sequence

        frames = sample_sequence(args.frames)
    else:
        from rgbd_perception.io.bop import read_bop_sequence

        frames = read_bop_sequence(args.sample_dir)[:args.frames]
    configure_venv_middleware()
    from rgbd_perception.tools.demo import run_demo

    run_demo(Path(args.out_dir), frames, device=args.device, compile_kernels=args.compile)


HANDLERS = {'hha': _run_hha, 'complete': _run_complete, 'mono-depth': _run_mono_depth,
            'pose': _run_pose, 'node': _run_node, 'bench': _run_bench, 'demo': _run_demo,
            'replay': _run_replay}


def main(argv=None):
    """Entry point of ``rgbd-perception``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        _parse_intrinsics(args)
        HANDLERS[args.command](args)
    except (CommandError, ValueError, OSError) as exc:
        print(f'rgbd-perception {args.command}: error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
