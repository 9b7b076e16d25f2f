"""
Command line of the training package: ``python -m training <command> ...``.

Commands: ``synth`` and ``sample`` (synthetic data and the bundled sample sequence, options in
training/synth/cli.py), ``data`` (render the folders a task config's data.generated_by names,
as the training scripts do), one per registered task
(``<task> --config cfg.yaml [key=value ...]``, see training/framework/tasks.py), ``eval``
(metrics JSON and plots), ``export`` (safetensors weights plus manifest; ``--onnx``: an ONNX
file too), ``onnx`` (ONNX file of exported weights, recorded in the manifest), ``runtime`` (the
manifest's runtime settings), ``manifest --upgrade`` (a format 1 manifest to format 2),
``templates`` (the nearest-neighbour template bank of exported pose weights),
``feature-templates`` (the ImageNet-feature template bank of rendered crops),
``eval-real-poses`` (rotation error of pose weights on real frames, RGB only, given
boxes) and ``linear-probe`` (top-1 of a linear classifier on frozen SimSiam features of
ground-truth object crops; last line ``top1 <value>``).  Training and export record their
command lines in the checkpoint and manifest.
Exit codes: 0 on success, 2 for a usage or configuration error, 130 when interrupted.
"""

import argparse
import importlib
import json
from pathlib import Path
import sys

from rgbd_perception.io.catalogue import CatalogueError
from rgbd_perception.io.images import DatasetLayoutError
from rgbd_perception.runtime.device import DeviceError
from training.framework import checkpoint
from training.framework.config import ConfigError, default_config, resolve_config
from training.framework.evaluation import evaluate
from training.framework.export import (export_checkpoint, ExportError, upgrade_manifest,
                                       write_onnx, write_runtime)
from training.framework.tasks import TASKS
from training.framework.trainer import train
from training.pose.feature_template_bank import DEFAULT_CROP_SIZE, DEFAULT_MIN_VISIBLE

USER_ERRORS = (CatalogueError, ConfigError, DatasetLayoutError, DeviceError, ExportError,
               FileNotFoundError)
#: Commands whose options live in training.synth.cli: name -> (add-arguments, run) functions.
SYNTH_COMMANDS = {'synth': ('add_arguments', 'run'),
                  'sample': ('add_sample_arguments', 'run_sample')}


def build_parser():
    """Return the argument parser of every command except synth's and sample's own options."""
    parser = argparse.ArgumentParser(prog='python -m training', description=__doc__.split(
        '\n\n')[0].strip())
    commands = parser.add_subparsers(dest='command', required=True, metavar='command')
    commands.add_parser('synth', help='generate synthetic data (options: synth --help)',
                        add_help=False)
    commands.add_parser('sample', help='render the bundled sample sequence (options: sample '
                        '--help)', add_help=False)
    data = commands.add_parser('data', help="render the folders a task config's "
                               'data.generated_by names (those not there yet)')
    data.add_argument('task', choices=sorted(TASKS), help='task whose config is read')
    data.add_argument('--config', type=Path, help="YAML updating the task's defaults")
    data.add_argument('overrides', nargs='*', metavar='key=value')
    for name, task in TASKS.items():
        sub = commands.add_parser(name, help=f'train {name} ({task.model_class.__name__})')
        sub.add_argument('--config', type=Path, help='YAML config (defaults: '
                         f'training/configs/{task.config_name})')
        sub.add_argument('--run-dir', type=Path, help='run directory (sets run.dir)')
        sub.add_argument('--resume', action='store_true',
                         help="continue from the run directory's latest checkpoint")
        sub.add_argument('overrides', nargs='*', metavar='key=value',
                         help='config overrides, e.g. optim.lr=0.01 train.steps=20')
    evaluation = commands.add_parser('eval', help='metrics JSON and PNG plots of a model')
    source = evaluation.add_mutually_exclusive_group(required=True)
    source.add_argument('--checkpoint', type=Path, help='checkpoint file or run directory')
    source.add_argument('--weights', type=Path, help='exported .safetensors weights')
    evaluation.add_argument('--config', type=Path, help='YAML updating the stored config')
    evaluation.add_argument('--out', type=Path, required=True, help='output directory')
    evaluation.add_argument('overrides', nargs='*', metavar='key=value')
    export = commands.add_parser('export', help='safetensors weights + JSON manifest')
    export.add_argument('--checkpoint', type=Path, required=True,
                        help='checkpoint file or run directory')
    export.add_argument('--out', type=Path, required=True, help='weights .safetensors path')
    export.add_argument('--metrics', type=Path, help='metrics.json of `eval` on the checkpoint')
    export.add_argument('--recipe', help='the command reproducing the weights from scratch, '
                        "recorded in the manifest (e.g. 'scripts/train_pose demo')")
    export.add_argument('--onnx', action='store_true', help='also export the model to ONNX '
                        'beside the weights (as the onnx command does)')
    onnx = commands.add_parser('onnx', help='export weights to ONNX beside them (the runtimes '
                               'onnxruntime and openvino load it) and record it in the manifest')
    onnx.add_argument('--weights', type=Path, required=True, help='exported .safetensors of a '
                      'VanishingDepthNet, MonoDepthNet or PoseNet')
    runtime = commands.add_parser('runtime', help='set the runtime settings in the manifest '
                                  'of exported weights (and re-hash it)')
    runtime.add_argument('--weights', type=Path, required=True, help='exported .safetensors')
    runtime.add_argument('--downsample', type=int, required=True,
                         help='working-size factor the completion stage runs the model at')
    runtime.add_argument('--chosen-by', required=True, help='how the settings were chosen')
    runtime.add_argument('--metrics', type=Path, action='append', default=[],
                         help='metrics.json of `eval --weights` on these weights with these '
                         'settings (repeatable)')
    manifest = commands.add_parser('manifest', help='upgrade a format 1 manifest to format 2 '
                                   '(the weights do not change)')
    manifest.add_argument('--upgrade', type=Path, required=True, metavar='WEIGHTS',
                          help='exported .safetensors whose manifest is rewritten')
    manifest.add_argument('--recipe', required=True,
                          help='the command that reproduces the recorded config now')
    templates = commands.add_parser('templates', help='nearest-neighbour template bank of '
                                    'exported pose weights (their training crops embedded)')
    templates.add_argument('--weights', type=Path, required=True,
                           help='exported PoseNet .safetensors')
    templates.add_argument('--out', type=Path, help='bank .safetensors (default: '
                           '<weights stem>_templates.safetensors beside the weights)')
    templates.add_argument('overrides', nargs='*', metavar='key=value',
                           help='changes of the stored config, e.g. data.train_dirs=[DIR]')
    features = commands.add_parser('feature-templates', help='ImageNet-feature template bank '
                                   'of rendered crops (rotation_source feature_templates)')
    features.add_argument('--renders', type=Path, nargs='+', required=True,
                          help='BOP render folders (e.g. .cache/pose/lmo_train_rand)')
    features.add_argument('--catalogue', default='config/objects/lmo.yaml',
                          help='object catalogue whose objects the bank holds')
    features.add_argument('--backbone', default='mobilenet_v2', help='torchvision backbone')
    features.add_argument('--initial-weights', required=True,
                          help='its ImageNet weights: a torchvision weights name or a local '
                               'state_dict (e.g. ../shared/pretrained/mobilenet_v2_imagenet.pth)')
    features.add_argument('--input-scaling', help='imagenet or minus_one_one (required for a '
                          'local file)')
    features.add_argument('--crop-size', type=int, default=DEFAULT_CROP_SIZE,
                          help='crop side, pixels')
    features.add_argument('--min-visible', type=float, default=DEFAULT_MIN_VISIBLE,
                          help="least visible share of a template's object")
    features.add_argument('--min-pixels', type=int, default=200,
                          help="least visible pixels of a template's object")
    features.add_argument('--limit', type=int, help='most frames per render folder')
    features.add_argument('--device', default='cpu', help='auto, cpu, cuda or cuda:N')
    features.add_argument('--out', type=Path, required=True, help='bank .safetensors')
    real = commands.add_parser('eval-real-poses', help='rotation error of pose weights on '
                               'real BOP frames, RGB only, given the true boxes')
    real.add_argument('--weights', type=Path, required=True, help='exported PoseNet '
                      '.safetensors (RGB or depth-dropout RGB-D)')
    real.add_argument('--scene', type=Path, required=True, help='BOP scene folder, e.g. '
                      '../shared/data/lmo_real_val/test/000002')
    real.add_argument('--catalogue', default='config/objects/lmo.yaml',
                      help='object catalogue (models_info.json beside its meshes)')
    real.add_argument('--mesh-dir', type=Path, help="replaces the catalogue's mesh folder")
    real.add_argument('--min-visible', type=float, default=0.1,
                      help='least visible share (visib_fract) of a scored object')
    real.add_argument('--limit', type=int, help='most images')
    real.add_argument('--box-only', action='store_true', help='translation from the box even '
                      "where the weights' mask head predicts a mask")
    real.add_argument('--feature-templates', type=Path, help='rotations from this ImageNet-'
                      'feature template bank instead of the rotation head')
    real.add_argument('--device', default='cpu', help='auto, cpu, cuda or cuda:N')
    real.add_argument('--out', type=Path, help='metrics .json to write')
    linear = commands.add_parser('linear-probe', help='top-1 of a linear classifier on frozen '
                                 'SimSiam features of ground-truth object crops')
    linear.add_argument('--backbone', required=True, help='exported SimSiamRGBD .safetensors, '
                        'or random (the same architecture untrained: the baseline)')
    linear.add_argument('--branch', choices=('rgb', 'rgbd'), default='rgb',
                        help='rgb: the RGB trunk; rgbd: RGB + HHA trunks (needs depth)')
    linear.add_argument('--train', type=Path, help='BOP folder whose crops fit the classifier '
                        '(any scene folders below it)')
    linear.add_argument('--test', type=Path, help='BOP folder scored; the same folder as '
                        '--train: first half of its frames fit, second half scored')
    linear.add_argument('--washington', type=Path, help='instead of --train/--test: the '
                        "seed's protocol on a Washington RGB-D Object folder (category labels, "
                        'one held-out instance per category scored)')
    linear.add_argument('--split-seed', type=int, default=0,
                        help='seed of the Washington leave-one-instance-out split')
    linear.add_argument('--min-visib', type=float, default=0.3,
                        help='least visible share (visib_fract) of a cropped object')
    linear.add_argument('--hha', choices=('raw', 'completed'), help='HHA source for rgbd '
                        "(default: the backbone's training setting, else completed)")
    linear.add_argument('--view-size', type=int, help='crop side the trunks see (default: '
                        "the backbone's data.view_size, else 64)")
    linear.add_argument('--cache-dir', type=Path, default=Path('.cache/simsiam/crops'),
                        help='where cut crops are cached')
    linear.add_argument('--device', default='cpu', help='auto, cpu, cuda or cuda:N')
    linear.add_argument('--seed', type=int, default=0, help='initialisation seed of random')
    return parser


def run_linear_probe(args):
    """Print the probe's crop counts and, as the last line, ``top1 <value>``."""
    from rgbd_perception.runtime.device import resolve_device
    from training.simsiam.crops import cached_bop_crops, cached_washington_split
    from training.simsiam.linear_probe import load_backbone, probe
    from training.simsiam.task import halves_by_frame
    if (args.washington is None) == (args.train is None or args.test is None) or (
            args.washington is not None and (args.train or args.test)):
        raise ConfigError('give either --train and --test (BOP folders) or --washington')
    device = resolve_device(args.device)
    try:
        model, config = load_backbone(args.backbone, args.branch, args.seed, device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    data = (config or {}).get('data', {})
    hha = (args.hha or data.get('hha', 'completed')) if args.branch == 'rgbd' else None
    view_size = args.view_size or data.get('view_size', 64)
    crop_size = data.get('crop_size', 96)

    def crops(folder):
        return cached_bop_crops(folder, args.cache_dir, crop_size, args.min_visib, hha)
    if args.washington is not None:
        train_crops, test_crops = cached_washington_split(
            args.washington, args.cache_dir, args.split_seed, crop_size, hha)
        print(f'{args.washington}: leave-one-instance-out split, seed {args.split_seed}')
    elif args.train.resolve() == args.test.resolve():
        train_crops, test_crops = halves_by_frame(crops(args.train))
        print(f'{args.train}: first half of its frames fit, second half scored')
    else:
        train_crops, test_crops = crops(args.train), crops(args.test)
    result = probe(model, args.branch, train_crops, test_crops, view_size, device)
    print(f"backbone {args.backbone} branch {args.branch}: {result['train_crops']} training "
          f"crops, {result['test_crops']} test crops, {result['classes']} classes")
    print(f"top1 {result['top1']:.4f}")


def run_real_poses(args):
    """Print (and write to ``args.out``) the real-frame rotation errors of ``args.weights``."""
    from rgbd_perception.io.catalogue import load_catalogue
    from rgbd_perception.io.data_paths import data_file
    from training.pose.real_eval import real_pose_metrics
    catalogue = load_catalogue(data_file(args.catalogue), args.mesh_dir)
    metrics = real_pose_metrics(args.weights, args.scene, catalogue, args.device,
                                args.min_visible, args.limit, not args.box_only,
                                args.feature_templates)
    text = json.dumps(metrics, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + '\n')
    print(text)


def run_feature_templates(args):
    """Build and write the feature template bank of ``args``; print where and how many."""
    from rgbd_perception.io.catalogue import load_catalogue
    from rgbd_perception.io.data_paths import data_file
    from rgbd_perception.runtime.device import resolve_device
    from training.pose.feature_template_bank import (build_feature_templates,
                                                     write_feature_templates)
    catalogue = load_catalogue(data_file(args.catalogue))
    try:
        bank = build_feature_templates(args.renders, list(catalogue.ids), args.backbone,
                                       args.initial_weights, args.input_scaling,
                                       args.crop_size, args.min_visible, args.min_pixels,
                                       limit=args.limit,
                                       device=resolve_device(args.device))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    write_feature_templates(bank, args.out)
    print(f'wrote {len(bank.bank.head)} templates of {len(catalogue.ids)} objects to {args.out}')


def run_templates(args):
    """Write the template bank of ``args.weights``; print where and how many."""
    from rgbd_perception.stages.pose_templates import templates_path
    from training.pose.template_export import write_templates
    out = args.out or templates_path(args.weights)
    count = write_templates(args.weights, out, args.overrides)
    print(f'wrote {count} templates to {out}')


def run_synth(argv, command='synth'):
    """Run a :data:`SYNTH_COMMANDS` command through its functions in training.synth.cli."""
    try:
        synth = importlib.import_module('training.synth.cli')
    except ImportError as exc:
        print(f'training: error: the {command} command is unavailable: cannot import '
              f'training.synth.cli ({exc})', file=sys.stderr)
        return 2
    add_arguments, run = (getattr(synth, name) for name in SYNTH_COMMANDS[command])
    parser = argparse.ArgumentParser(prog=f'python -m training {command}')
    add_arguments(parser)
    return int(run(parser.parse_args(argv)) or 0)


def run_data(args):
    """Render the data.generated_by folders of the task config of ``args``; return the status."""
    config = resolve_config(default_config(TASKS[args.task].config_name), args.config,
                            args.overrides)
    generated_by = config.get('data', {}).get('generated_by')
    if not generated_by:
        raise ConfigError(f'the {args.task} config names no data.generated_by')
    synth = importlib.import_module('training.synth.cli')
    return synth.render_generated(generated_by)


def run_task(args, argv):
    """Train the task named by ``args.command`` (command line ``argv``); return the exit code."""
    task = TASKS[args.command]
    overrides = list(args.overrides)
    if args.run_dir is not None:
        overrides.append(f'run.dir={args.run_dir}')
    if args.resume:
        overrides.append('run.resume=required')
    config = resolve_config(default_config(task.config_name), args.config, overrides)
    run = config['run']
    run['dir'] = run['dir'] or str(Path('runs') / task.name / run['name'])
    try:
        train(task, config, run['dir'], argv)
    except KeyboardInterrupt:
        latest = checkpoint.latest_checkpoint(run['dir'])
        print(f'\ninterrupted; latest checkpoint: {latest}; continue with --resume',
              file=sys.stderr)
        return 130
    return 0


def run_onnx(weights_path, argv):
    """Export ``weights_path`` to ONNX beside it, record it in its manifest, print where."""
    record = write_onnx(weights_path, argv)
    print(f"{weights_path}: ONNX {record['file']} (opset {record['opset']}, largest "
          f"difference from torch {record['max_abs_difference_from_torch']:.2e})")


def main(argv=None):
    """Parse ``argv`` (default sys.argv[1:]), run the command and return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in SYNTH_COMMANDS:
        return run_synth(argv[1:], argv[0])
    args = build_parser().parse_args(argv)
    try:
        if args.command == 'eval':
            report = evaluate(args.out, args.checkpoint, args.weights, args.config,
                              args.overrides)
            print(json.dumps(report['metrics'], indent=2))
        elif args.command == 'export':
            manifest = export_checkpoint(args.checkpoint, args.out, args.metrics, args.recipe,
                                         argv)
            print(f"exported {args.out} (sha256 {manifest['weights_sha256']})")
            if args.onnx:
                run_onnx(args.out, argv)
        elif args.command == 'onnx':
            run_onnx(args.weights, argv)
        elif args.command == 'runtime':
            runtime = write_runtime(args.weights, args.downsample, args.chosen_by, args.metrics,
                                    argv)
            print(f"{args.weights}: runtime downsample {runtime['downsample']}")
        elif args.command == 'manifest':
            manifest, dropped = upgrade_manifest(args.upgrade, args.recipe, argv)
            print(f"{args.upgrade}: manifest upgraded to format {manifest['format_version']}")
            if dropped is not None:
                print(f"its hand-written runtime block (downsample {dropped.get('downsample')})"
                      ' was dropped: write it with `python -m training runtime`')
        elif args.command == 'templates':
            run_templates(args)
        elif args.command == 'feature-templates':
            run_feature_templates(args)
        elif args.command == 'eval-real-poses':
            run_real_poses(args)
        elif args.command == 'linear-probe':
            run_linear_probe(args)
        elif args.command == 'data':
            return run_data(args)
        else:
            return run_task(args, argv)
    except USER_ERRORS as exc:
        print(f'training: error: {exc}', file=sys.stderr)
        return 2
    return 0
