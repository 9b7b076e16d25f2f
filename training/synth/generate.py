"""
Generating a synthetic dataset: frames rendered in worker processes, written as BOP.

Frame i draws everything (scene, materials, lights, camera, sensor noise) from
``numpy.random.default_rng([seed, i])`` and goes to scene folder i // frames_per_scene as
im_id i % frames_per_scene. Workers (a multiprocessing Pool, each with its own pybullet DIRECT
connection, or Ray tasks: ray_frames.py) render and write the images; the parent writes the
per-scene JSON files in frame order. So the output is a function of the options alone:
byte-identical for any worker count. A run into the folder of an interrupted run of the same
options renders only the frames missing (resume.py).
"""

from dataclasses import asdict, dataclass, field, replace
import multiprocessing
from pathlib import Path
import tempfile
import time

import numpy as np

from training.synth import resume
from training.synth.annotate import annotate
from training.synth.bop_writer import (frame_depth_scale, frame_entries, scene_dir,
                                       write_dataset_files, write_frame_images,
                                       write_scene_files)
from training.synth.camera import gravity_in_camera, intrinsics_from_vfov
from training.synth.looks import sample_look
from training.synth.photometric import apply_camera_effects
from training.synth.randomisation import LEVELS
from training.synth.render import Renderer
from training.synth.scene import DistractorMeshes, sample_scene, SceneOptions
from training.synth.sensor import apply_sensor, PRESETS


@dataclass(frozen=True)
class SynthConfig:
    """
    Options of a synthetic dataset.

    out: output folder; frames: count; seed: int; width, height: pixels; vfov_deg: vertical
    field of view; far: far clipping plane (m; the near one is scene.near); sensor: a key of
    sensor.PRESETS; frames_per_scene: images per BOP scene folder; scene: SceneOptions;
    renderer: one of :data:`RENDERERS`; samples: Cycles paths per pixel (tiny ignores it).
    """

    out: str
    frames: int
    seed: int = 0
    width: int = 640
    height: int = 480
    vfov_deg: float = 49.1
    far: float = 20.0
    sensor: str = 'structured_light'
    frames_per_scene: int = 1000
    scene: SceneOptions = field(default_factory=SceneOptions)
    renderer: str = 'tiny'
    samples: int = 8

    @property
    def k(self):
        """Return the (3, 3) camera matrix."""
        return intrinsics_from_vfov(self.width, self.height, self.vfov_deg)


#: The renderers of SynthConfig.renderer: pybullet's TinyRenderer, Blender Cycles (bpy).
RENDERERS = ('tiny', 'cycles')


class FrameWriter:
    """Renders, annotates and writes frames; one per process (it owns a renderer)."""

    def __init__(self, config, catalogue, texture_dir):
        """Connect a renderer for the config's image size."""
        self.config = config
        self.catalogue = catalogue
        self.distractors = DistractorMeshes()
        size = (config.width, config.height, config.k, config.scene.near, config.far)
        if config.renderer == 'cycles':
            from training.synth.cycles import Renderer as Cycles  # bpy only when asked for
            self.renderer = Cycles(*size, texture_dir, config.samples)
        else:
            self.renderer = Renderer(*size, texture_dir)

    def __call__(self, index):
        """
        Render frame `index`, write its images; return (scene_id, im_id, json entries).

        The randomisation level and physics draw from Generator([seed, index, 3]), the camera
        effects from Generator([seed, index, 2]), the Cycles look from Generator([seed, index,
        1]); everything else from Generator([seed, index]).
        """
        config = self.config
        rng = np.random.default_rng([config.seed, index])
        scene = sample_scene(rng, self.catalogue, self.distractors, config.scene,
                             np.random.default_rng([config.seed, index, 3]))
        if config.renderer == 'cycles':
            scene = replace(scene, look=sample_look(
                np.random.default_rng([config.seed, index, 1]), scene))
        scene_id, im_id = divmod(index, config.frames_per_scene)
        randomisation = LEVELS[config.scene.randomisation]
        camera = None if randomisation is None else (
            randomisation.camera, np.random.default_rng([config.seed, index, 2]))
        entries = render_and_write(self.renderer, scene, config.k, config.sensor, rng,
                                   scene_dir(config.out, scene_id), im_id, camera)
        return scene_id, im_id, entries


def render_and_write(renderer, scene, k, sensor, rng, folder, im_id, camera=None):
    """
    Render ``scene``, apply the sensor model, write the frame's images; return its entries.

    k: (3, 3) camera matrix; sensor: a key of sensor.PRESETS; rng: the frame's Generator;
    folder: the BOP scene folder; im_id: the image id; camera: (photometric.CameraEffects,
    Generator) applied to the colour image written (after the sensor model, which sees the
    rendered one), or None. Returns the frame's entries of the per-scene JSON files (see
    bop_writer.frame_entries).
    """
    frame = renderer.render(scene)
    glossy = np.array([b.glossy for b in scene.bodies] + [False])[frame.labels]
    light = scene.rotation_w2c @ np.asarray(scene.lighting.direction)
    depth = apply_sensor(PRESETS[sensor], frame.depth, frame.rgb, k, light, glossy, rng)
    annotations = annotate(scene, frame.labels, k, depth)
    depth_scale = frame_depth_scale(frame.depth)
    rgb = frame.rgb if camera is None else apply_camera_effects(frame.rgb, *camera)
    write_frame_images(folder, im_id, rgb, depth, frame.depth, annotations, depth_scale)
    return frame_entries(k, scene.rotation_w2c, scene.translation_w2c,
                         gravity_in_camera(scene.rotation_w2c), annotations, depth_scale)


_WRITER = None


def _start_worker(writer_class, arguments):
    global _WRITER
    _WRITER = writer_class(*arguments)


def _write_frame(index):
    return _WRITER(index)


def map_frames(writer_class, arguments, indices, workers=1, ray=None):
    """
    Yield ``writer(index)`` for each of ``indices`` in order, with writer_class(*arguments).

    ray None: workers 1 renders in this process, more a spawn Pool with one writer per process
    (each owns a pybullet connection). ray 'auto' or a cluster ADDRESS: Ray tasks, one writer
    per Ray worker process (:mod:`training.synth.ray_frames`; workers: the CPUs of a local
    instance that 'auto' starts, None for all). The writer must have ``renderer.close()``.
    """
    if not indices:
        return
    if ray is not None:
        from training.synth.ray_frames import map_frames_on_ray  # Ray only when asked for
        yield from map_frames_on_ray(writer_class, arguments, indices, ray, workers)
        return
    workers = min(workers or 1, len(indices))
    if workers == 1:
        writer = writer_class(*arguments)
        try:
            yield from map(writer, indices)
        finally:
            writer.renderer.close()
        return
    # spawn: workers start clean (no locks or threads inherited from torch / ROS).
    context = multiprocessing.get_context('spawn')
    with context.Pool(workers, _start_worker, (writer_class, arguments)) as pool:
        yield from pool.imap(_write_frame, indices)


def _write_scene_files(config, results):
    """Write each scene folder's JSON files once its last frame result has arrived."""
    pending = {}
    for index, (scene_id, im_id, entries) in enumerate(results):
        pending.setdefault(scene_id, {})[im_id] = entries
        if im_id == config.frames_per_scene - 1 or index == config.frames - 1:
            write_scene_files(scene_dir(config.out, scene_id), pending.pop(scene_id))


def generate(config, catalogue, workers=1, ray=None):
    """
    Write a dataset, or its frames not done yet; return (frames rendered, seconds it took).

    catalogue: list of ObjectModel; workers, ray: where frames render (see map_frames).
    config.out may hold an interrupted render of the same options (see
    :mod:`training.synth.resume`; resume.FolderError for anything else).
    """
    start = time.perf_counter()
    config = replace(config, out=str(Path(config.out).resolve()))  # the same for Ray workers
    options = {'config': {k: v for k, v in asdict(config).items() if k != 'out'},
               'objects': {str(m.obj_id): m.description() for m in catalogue}}
    if resume.start(config.out, options):
        return 0, time.perf_counter() - start
    write_dataset_files(config.out, catalogue, config.k, config.width, config.height)
    todo = resume.missing(config.out, config.frames)
    with tempfile.TemporaryDirectory(prefix='synth_textures_') as texture_dir:
        rendered = map_frames(FrameWriter, (config, catalogue, texture_dir), todo, workers, ray)
        _write_scene_files(config, resume.all_results(config.out, config.frames, todo, rendered))
    resume.finish(config.out, options)
    return len(todo), time.perf_counter() - start
