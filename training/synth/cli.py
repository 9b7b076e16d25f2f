"""
``python -m training synth`` and ``sample``: synthetic RGB-D data in the BOP format on the CPU.

``synth`` renders a dataset of random scenes, ``sample`` the bundled sample sequence
(training/synth/sequence.py). Examples (see training/synth/bop_writer.py for the output)::

    python -m training synth --out data/synth --frames 1000 --seed 0 --workers 2
        --objects ../shared/data/lmo_models/models --sensor structured_light
    python -m training synth --out data/synth_cycles --frames 100 --renderer cycles
        --size 320x240 --samples 8 --workers 2 --objects ../shared/data/lmo_models/models
    python -m training sample --out .cache/sample --frames 30 --workers 2

``python -m training data <task>`` renders the folders a training config's
``data.generated_by`` names (render_generated).
"""

import argparse
from pathlib import Path
import re
import shlex
import sys

from rgbd_perception.geometry.meshes import MeshError
from training.framework.config import ConfigError
from training.synth.catalogue import build_catalogue, CatalogueError, SOURCES
from training.synth.generate import generate, RENDERERS, SynthConfig
from training.synth.randomisation import LEVELS
from training.synth.resume import FolderError
from training.synth.scene import SceneOptions
from training.synth.sensor import PRESETS
from training.synth.sequence import SampleConfig, SampleFolderError, write_sample

#: How a config's data.generated_by starts, and each further folder's part of it.
SYNTH_PROGRAM = 'python -m training synth '
SAME_WITH = 'same with '


def _positive(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def add_arguments(parser):
    """Add the options of ``synth`` to an argparse parser."""
    parser.add_argument('--out', required=True,
                        help='output folder (new, empty, or an interrupted render of the same '
                             'options: its missing frames are rendered): BOP scenes, models, '
                             'objects.json, synth.json')
    parser.add_argument('--frames', type=_positive, default=10, help='frames to render')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed; frame i uses numpy Generator([seed, i])')
    parser.add_argument('--objects', metavar='MESH_DIR',
                        help='folder of .ply / .obj object meshes (obj_000005.ply keeps id 5)')
    parser.add_argument('--mesh-unit', choices=('auto', 'mm', 'm'), default='auto',
                        help='units of the --objects meshes (auto: larger than 10 units = mm)')
    parser.add_argument('--sources', default=','.join(SOURCES),
                        help=f'comma-separated object sources out of {",".join(SOURCES)} '
                             '(default: all; "given" needs --objects)')
    parser.add_argument('--workers', type=_positive,
                        help='rendering processes (default 1); with --ray auto: the CPUs of '
                             'the local Ray instance it starts (default all)')
    parser.add_argument('--ray', metavar='auto|ADDRESS',
                        help='render frames as Ray tasks: auto joins the Ray instance started '
                             'on this machine or starts one; ADDRESS joins that cluster (the '
                             'output folder must be shared by its nodes)')
    _add_image_size(parser)
    parser.add_argument('--vfov', type=float, default=49.1,
                        help='vertical field of view in degrees (default 49.1: fy about 525 px '
                             'at 480 rows)')
    parser.add_argument('--sensor', choices=sorted(PRESETS), default='structured_light',
                        help='depth sensor model applied to depth/ (depth_clean/ is exact)')
    parser.add_argument('--frames-per-scene', type=_positive, default=1000,
                        help='images per BOP scene folder (default 1000)')
    parser.add_argument('--min-objects', type=_positive, default=1,
                        help='fewest annotated objects per frame')
    parser.add_argument('--max-objects', type=_positive, default=8,
                        help='most annotated objects per frame')
    parser.add_argument('--max-distractors', type=int, default=3,
                        help='most unannotated distractors per frame')
    parser.add_argument('--occluder-prob', type=float, default=0.3,
                        help='probability of a board between camera and table')
    parser.add_argument('--shadow-prob', type=float, default=0.0,
                        help='probability of TinyRenderer shadows (default 0: they double the '
                             'render time and come out faint)')
    parser.add_argument('--room-views', type=float, default=0.0,
                        help='share of room views: a larger room with furniture seen from '
                             'anywhere in it, depth up to ~12 m (default 0: tabletop views)')
    parser.add_argument('--randomisation', choices=tuple(LEVELS), default='none',
                        help='domain randomisation beyond the default world (default none): '
                             'more distractors, random textures and backgrounds on every '
                             'surface, light, camera blur / noise / JPEG '
                             '(training/synth/randomisation.py)')
    parser.add_argument('--renderer', choices=RENDERERS, default='tiny',
                        help='tiny: pybullet TinyRenderer (fast, flat shading; default); cycles: '
                             'Blender Cycles on the CPU (physically based materials, lights, '
                             'shadows, interreflection, denoising; seconds a frame)')
    parser.add_argument('--samples', type=_positive, default=8,
                        help='Cycles paths per pixel (default 8; more: less noise, slower)')
    parser.add_argument('--physics', choices=('off', 'on'), default='off',
                        help='on: drop the objects onto the table with rigid-body physics, so '
                             'they lean and stack (default off: resting side by side)')


def run(args):
    """Render the dataset (its missing frames) of parsed ``synth`` arguments; return status."""
    out = Path(args.out)
    if args.min_objects > args.max_objects:
        print('synth: --min-objects exceeds --max-objects', file=sys.stderr)
        return 2
    try:
        catalogue = build_catalogue(args.objects, args.mesh_unit,
                                    [s for s in args.sources.split(',') if s])
    except (CatalogueError, MeshError, OSError) as error:
        print(f'synth: {error}', file=sys.stderr)
        return 2
    options = SceneOptions(min_objects=args.min_objects, max_objects=args.max_objects,
                           max_distractors=args.max_distractors,
                           occluder_probability=args.occluder_prob,
                           shadow_probability=args.shadow_prob,
                           room_view_probability=args.room_views,
                           randomisation=args.randomisation, physics=args.physics == 'on')
    config = SynthConfig(out=str(out), frames=args.frames, seed=args.seed, width=args.width,
                         height=args.height, vfov_deg=args.vfov, sensor=args.sensor,
                         frames_per_scene=args.frames_per_scene, scene=options,
                         renderer=args.renderer, samples=args.samples)
    try:
        rendered, seconds = generate(config, catalogue, args.workers, args.ray)
    except FolderError as error:
        print(f'synth: {error}', file=sys.stderr)
        return 2
    if not rendered:
        print(f'synth: {out} holds all {args.frames} frames; nothing to do')
        return 0
    where = f'Ray {args.ray}' if args.ray else f'{min(args.workers or 1, rendered)} worker(s)'
    resumed = f', {args.frames - rendered} were done' if rendered < args.frames else ''
    print(f'synth: {rendered} frames of {args.width}x{args.height} in {seconds:.1f} s: '
          f'{rendered / seconds:.2f} frames/s ({where}{resumed}) -> {out}')
    return 0


class _SizeAction(argparse.Action):
    """--size WxH: sets width and height."""

    def __call__(self, parser, namespace, values, option_string=None):
        match = re.fullmatch(r'([1-9][0-9]*)x([1-9][0-9]*)', values)
        if match is None:
            parser.error(f'{option_string}: expected WIDTHxHEIGHT in pixels, got {values!r}')
        namespace.width, namespace.height = int(match.group(1)), int(match.group(2))


def _add_image_size(parser):
    """Add --width and --height (pixels) and --size WxH (both at once)."""
    parser.add_argument('--width', type=_positive, default=640, help='image width (px)')
    parser.add_argument('--height', type=_positive, default=480, help='image height (px)')
    parser.add_argument('--size', action=_SizeAction, metavar='WxH',
                        help='image width and height at once, e.g. 320x240')


def add_sample_arguments(parser):
    """Add the options of ``sample`` to an argparse parser."""
    parser.add_argument('--out', required=True,
                        help='output folder (new, empty or an earlier sample): BOP scene '
                             '000000, models, objects.json, sample.json')
    parser.add_argument('--frames', type=_positive, default=30,
                        help='frames of the sequence (default 30)')
    _add_image_size(parser)
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed of textures, colours, placement and sensor noise')
    parser.add_argument('--workers', type=_positive, default=2,
                        help='rendering processes (default 2; the files do not depend on it)')


def run_sample(args):
    """Write the sample of parsed ``sample`` arguments unless already there; return status."""
    config = SampleConfig(out=args.out, frames=args.frames, width=args.width,
                          height=args.height, seed=args.seed)
    try:
        seconds = write_sample(config, args.workers)
    except SampleFolderError as error:
        print(f'sample: {error}', file=sys.stderr)
        return 2
    if seconds is None:
        print(f'sample: {args.out} already holds this sample; nothing to do')
    else:
        print(f'sample: {args.frames} frames of {args.width}x{args.height} in {seconds:.1f} s '
              f'({min(args.workers, args.frames)} worker(s)) -> {args.out}')
    return 0


def generated_by_commands(generated_by):
    """
    Return the ``synth`` argument lists a config's data.generated_by names.

    The text is 'python -m training synth ARGS', then '; same with ARGS' for each further
    folder: the first command's arguments with these options replaced or added.
    """
    first, *others = [part.strip() for part in generated_by.split(';')]
    if not first.startswith(SYNTH_PROGRAM) or not all(
            part.startswith(SAME_WITH) for part in others):
        raise ConfigError(f"data.generated_by is not '{SYNTH_PROGRAM}ARGS[; {SAME_WITH}ARGS]"
                          f"...': {generated_by!r}")
    base = _options(first[len(SYNTH_PROGRAM):])
    return [[word for option in {**base, **_options(part[len(SAME_WITH):])}.items()
             for word in option] for part in [SAME_WITH, *others]]


def _options(text):
    """Return {'--option': value} of 'option value' pairs (every synth option takes one)."""
    words = shlex.split(text)
    if len(words) % 2 or not all(word.startswith('--') for word in words[::2]):
        raise ConfigError(f'data.generated_by: expected --option value pairs: {text!r}')
    return dict(zip(words[::2], words[1::2]))


def render_generated(generated_by):
    """
    Render each folder of data.generated_by that does not exist yet; return the exit status.

    A folder is rendered as FOLDER.partial and renamed when complete, so an interrupted
    render is never taken for data; the next call resumes it.
    """
    parser = argparse.ArgumentParser(prog='python -m training synth')
    add_arguments(parser)
    for argv in generated_by_commands(generated_by):
        args = parser.parse_args(argv)
        out = Path(args.out)
        if out.is_dir():
            print(f'data: {out} exists; not rendered again')
            continue
        status = run(argparse.Namespace(**{**vars(args), 'out': f'{out}.partial'}))
        if status:
            return status
        Path(f'{out}.partial').rename(out)
    return 0
