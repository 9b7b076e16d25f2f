"""
Rendering a :class:`~training.synth.scene.Scene` with Blender Cycles on the CPU (bpy 4.2).

Same interface as :class:`training.synth.render.Renderer` (TinyRenderer): ``render(scene)``
returns a :class:`~training.synth.render.RenderedFrame` and ``close()`` ends it. The scene's
:class:`~training.synth.looks.Look` (materials, lights, sky, exposure, seed) decides its
appearance; a scene without one gets the look drawn from ``Generator(0)``.

Each frame is rendered twice:

* colour: `samples` paths per pixel through a 1.5 px Blackman-Harris pixel filter (so edges
  are anti-aliased), shadows and interreflection (4 bounces), OpenImageDenoise (albedo and
  normal guided, fast prefilter) when `denoise`; its scene-linear radiance goes through
  :func:`training.synth.exposure.develop` to 8-bit sRGB, then the look's camera blur and
  noise (:func:`training.synth.photometric.apply_camera_effects`, Generator(look.seed));
* ground truth: 1 path per pixel through the pixel centre (filter width 0.01 px), whose
  first hit gives the Z pass (optical-frame z, m) and the object-index pass (body index + 1).

Camera: K = [[f, 0, cx], [0, f, cy], [0, 0, 1]] (0-based pixel centres, fx = fy) becomes a
horizontal sensor fit with focal length f (in units of the image width), shift_x =
((W - 1) / 2 - cx) / W and shift_y = (cy - (H - 1) / 2) / W (Blender's shifts are fractions
of the fitted side, here the width; its rows run upwards). Blender's camera looks along its
-z with +y up: the optical frame (x right, y down, z forward) turned by diag(1, -1, -1).
Clipping planes are z = near and z = far, as TinyRenderer's.

Blender is one per process (bpy is a module-level singleton): one Renderer at a time per
process. A Renderer keeps the meshes of bodies with a cache_key (catalogue objects,
distractors) and their textures between frames; everything else a frame creates (objects,
per-frame meshes, materials, images, lights) is removed after it, with deterministic names,
so a frame does not depend on what the process rendered before. Passes come back through an
OpenEXR file in `texture_dir` (Blender cannot hand render results to Python in background
mode), read and deleted at once.
"""

import contextlib
import os
from pathlib import Path
import sys

import numpy as np

from training.synth.blender import bpy, mathutils
from training.synth.cycles_materials import build_material, COLOUR_ATTRIBUTE
from training.synth.exposure import develop
from training.synth.looks import sample_look
from training.synth.photometric import apply_camera_effects
from training.synth.render import RenderedFrame

#: Optical frame (x right, y down, z forward) -> Blender camera frame (x right, y up, z back).
OPTICAL_TO_BLENDER = np.diag([1.0, -1.0, -1.0])
SENSOR_WIDTH_MM = 36.0
DATA_FILTER_WIDTH = 0.01  # px: the smallest Blender allows; rays within 0.005 px of centres
COLOUR_FILTER_WIDTH = 1.5
WORLD_MAP_RESOLUTION = 128


@contextlib.contextmanager
def _quiet():
    """Silence Blender's render log (written to file descriptor 1) for the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def camera_settings(k, width, height):
    """
    Return Blender camera settings {name: value} that reproduce K (see the module docstring).

    Raises ValueError when fx != fy (Blender's square-pixel camera).
    """
    if not np.isclose(k[0, 0], k[1, 1], rtol=1e-12, atol=0.0):
        raise ValueError('the Cycles camera needs fx == fy')
    return {'sensor_fit': 'HORIZONTAL', 'sensor_width': SENSOR_WIDTH_MM,
            'lens': float(k[0, 0]) * SENSOR_WIDTH_MM / width,
            'shift_x': ((width - 1) / 2.0 - float(k[0, 2])) / width,
            'shift_y': (float(k[1, 2]) - (height - 1) / 2.0) / width}


def _matrix(rotation, translation):
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = translation
    return mathutils.Matrix(transform.tolist())


def _frame_along(direction):
    """Return a (3, 3) rotation whose -z axis is the unit `direction` (world)."""
    back = -np.asarray(direction, np.float64) / np.linalg.norm(direction)
    helper = np.array([1.0, 0.0, 0.0]) if abs(back[2]) > 0.9 else np.array([0.0, 0.0, 1.0])
    x = np.cross(helper, back)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(back, x), back], axis=1)


def _image(name, pixels):
    """Return a bpy image of (h, w, 3) uint8 sRGB pixels (row 0 = top, as in numpy)."""
    height, width = pixels.shape[:2]
    image = bpy.data.images.new(name, width, height, alpha=False)
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., :3] = pixels[::-1] / 255.0  # Blender stores rows bottom-up
    image.pixels.foreach_set(rgba.reshape(-1))
    return image


def _mesh_data(name, mesh):
    """Return a bpy mesh of a Mesh: faces, smooth custom normals, uvs, vertex colours."""
    data = bpy.data.meshes.new(name)
    faces = mesh.faces.astype(np.int32)
    data.vertices.add(len(mesh.vertices))
    data.vertices.foreach_set('co', mesh.vertices.astype(np.float32).reshape(-1))
    data.loops.add(faces.size)
    data.loops.foreach_set('vertex_index', faces.reshape(-1))
    data.polygons.add(len(faces))
    data.polygons.foreach_set('loop_start', np.arange(0, faces.size, 3, dtype=np.int32))
    data.polygons.foreach_set('use_smooth', np.ones(len(faces), bool))
    if mesh.uvs is not None:
        layer = data.uv_layers.new(name='UVMap')
        layer.data.foreach_set('uv', mesh.uvs[faces].astype(np.float32).reshape(-1))
    if mesh.colours is not None:
        colours = np.ones((len(mesh.vertices), 4), np.float32)
        colours[:, :3] = mesh.colours / 255.0
        attribute = data.color_attributes.new(COLOUR_ATTRIBUTE, 'BYTE_COLOR', 'POINT')
        attribute.data.foreach_set('color_srgb', colours.reshape(-1))
    data.update()
    data.normals_split_custom_set_from_vertices(mesh.normals.astype(np.float32))
    data.materials.append(None)  # one slot; each object links its own material
    return data


def _light(name, light):
    """Return a bpy light object of a :class:`~training.synth.looks.Light`."""
    data = bpy.data.lights.new(name, light.kind)
    data.energy = light.power
    if light.kind == 'AREA':
        data.shape, data.size = 'SQUARE', light.size
    elif light.kind == 'POINT':
        data.shadow_soft_size = light.size
    else:
        data.angle = light.size
    data.use_nodes = True
    emission = data.node_tree.nodes['Emission']
    blackbody = data.node_tree.nodes.new('ShaderNodeBlackbody')
    blackbody.inputs['Temperature'].default_value = light.temperature
    data.node_tree.links.new(blackbody.outputs['Color'], emission.inputs['Color'])
    obj = bpy.data.objects.new(name, data)
    obj.matrix_world = _matrix(_frame_along(light.direction), light.position)
    obj.visible_camera = False
    return obj


class Renderer:
    """
    Blender Cycles drawing scenes at a fixed image size and K on the CPU.

    width, height: pixels; k: (3, 3) intrinsics (fx == fy); near, far: clipping planes (m);
    texture_dir: a writable folder for the passes' exchange file; samples: paths per pixel
    of the colour render; denoise: OpenImageDenoise. Cycles uses every CPU (two worker
    processes on two cores measured as fast as two with one thread each).
    """

    def __init__(self, width, height, k, near, far, texture_dir, samples=8, denoise=True):
        """Reset Blender to an empty scene set up for Cycles on the CPU."""
        self.width, self.height = width, height
        self._exchange = Path(texture_dir) / f'cycles_{os.getpid()}.exr'
        self._samples, self._denoise = samples, denoise
        with _quiet():
            bpy.ops.wm.read_factory_settings(use_empty=True)
        self._scene = scene = bpy.context.scene
        self._setup_render(scene)
        camera = bpy.data.cameras.new('camera')
        for name, value in camera_settings(k, width, height).items():
            setattr(camera, name, value)
        camera.clip_start, camera.clip_end = near, far
        scene.camera = bpy.data.objects.new('camera', camera)
        scene.collection.objects.link(scene.camera)
        scene.world = bpy.data.worlds.new('world')
        # A small importance map: the default (1024 x 512 shader evaluations) costs seconds.
        scene.world.cycles.sampling_method = 'MANUAL'
        scene.world.cycles.sample_map_resolution = WORLD_MAP_RESOLUTION
        self._setup_compositor(scene)
        self._kept = {}  # cache_key -> bpy mesh
        self._kept_images = {}  # cache_key -> bpy image of the mesh's own texture
        self._frame_ids = []

    def _setup_render(self, scene):
        scene.render.engine = 'CYCLES'
        scene.render.resolution_x, scene.render.resolution_y = self.width, self.height
        scene.render.resolution_percentage = 100
        # No persistent data: it saved no time here, and it kept stale images between frames.
        scene.render.use_persistent_data = False
        settings = scene.render.image_settings
        settings.file_format, settings.color_mode = 'OPEN_EXR', 'RGBA'
        settings.color_depth, settings.exr_codec = '32', 'NONE'
        cycles = scene.cycles
        cycles.device = 'CPU'
        cycles.use_adaptive_sampling = False
        cycles.max_bounces, cycles.diffuse_bounces, cycles.glossy_bounces = 4, 3, 3
        cycles.transmission_bounces, cycles.transparent_max_bounces = 2, 2
        cycles.volume_bounces = 0
        cycles.caustics_reflective = cycles.caustics_refractive = False
        cycles.sample_clamp_indirect = 10.0
        cycles.denoiser = 'OPENIMAGEDENOISE'
        cycles.denoising_input_passes = 'RGB_ALBEDO_NORMAL'
        cycles.denoising_prefilter = 'FAST'  # ACCURATE costs ~1 s more a frame
        layer = scene.view_layers[0]
        layer.use_pass_z = layer.use_pass_object_index = True

    def _setup_compositor(self, scene):
        """Composite output: the colour render's image, or (Z, object index) for ground truth."""
        scene.use_nodes = True
        tree = scene.node_tree
        for node in list(tree.nodes):
            tree.nodes.remove(node)
        self._layers = tree.nodes.new('CompositorNodeRLayers')
        self._composite = tree.nodes.new('CompositorNodeComposite')
        self._passes = tree.nodes.new('CompositorNodeCombineColor')
        tree.links.new(self._layers.outputs['Depth'], self._passes.inputs['Red'])
        tree.links.new(self._layers.outputs['IndexOB'], self._passes.inputs['Green'])

    def close(self):
        """Free this frame's data and the kept meshes and images."""
        self._clear_frame()
        bpy.data.batch_remove(list(self._kept.values()) + list(self._kept_images.values()))
        self._kept, self._kept_images = {}, {}

    def _add(self, datablock):
        self._frame_ids.append(datablock)
        return datablock

    def _clear_frame(self):
        bpy.data.batch_remove(self._frame_ids)
        self._frame_ids = []

    def _body_mesh(self, index, body):
        """Return (bpy mesh, bpy image of its own texture or None) of a body."""
        if body.cache_key is None:
            data = self._add(_mesh_data(f'frame_mesh.{index:03d}', body.mesh))
            texture = body.mesh.texture
            image = None if texture is None else self._add(_image(f'mesh_image.{index:03d}',
                                                                  texture))
            return data, image
        if body.cache_key not in self._kept:
            self._kept[body.cache_key] = _mesh_data(f'kept:{body.cache_key}', body.mesh)
            if body.mesh.texture is not None:
                self._kept_images[body.cache_key] = _image(f'kept_image:{body.cache_key}',
                                                           body.mesh.texture)
        return self._kept[body.cache_key], self._kept_images.get(body.cache_key)

    def _build(self, scene, look):
        """Create the frame's objects, materials, lights and world."""
        collection = self._scene.collection
        for index, (body, material) in enumerate(zip(scene.bodies, look.materials)):
            data, image = self._body_mesh(index, body)
            if material.family == 'image':
                image = self._add(_image(f'body_image.{index:03d}', body.texture))
            obj = self._add(bpy.data.objects.new(f'body.{index:03d}', data))
            obj.matrix_world = _matrix(body.rotation, body.translation)
            obj.pass_index = index + 1
            obj.material_slots[0].link = 'OBJECT'
            obj.material_slots[0].material = self._add(
                build_material(f'material.{index:03d}', material, body.rgba, image))
            if index in look.skylight:
                obj.visible_shadow = obj.visible_diffuse = obj.visible_glossy = False
                obj.visible_transmission = obj.visible_volume_scatter = False
            collection.objects.link(obj)
        for index, light in enumerate(look.lights):
            obj = _light(f'light.{index:02d}', light)
            self._add(obj.data)
            collection.objects.link(self._add(obj))
        self._setup_world(look.sky)
        camera_rotation = scene.rotation_w2c.T @ OPTICAL_TO_BLENDER
        self._scene.camera.matrix_world = _matrix(camera_rotation,
                                                  -scene.rotation_w2c.T @ scene.translation_w2c)
        self._scene.cycles.seed = look.seed

    def _setup_world(self, sky):
        world = self._scene.world
        world.use_nodes = True
        nodes = world.node_tree.nodes
        for node in [n for n in nodes if n.bl_idname == 'ShaderNodeTexSky']:
            nodes.remove(node)
        background = nodes['Background']
        background.inputs['Strength'].default_value = sky.strength
        background.inputs['Color'].default_value = (0.5, 0.5, 0.5, 1.0)
        if sky.turbidity > 0:
            texture = nodes.new('ShaderNodeTexSky')
            texture.sky_type, texture.sun_direction = 'HOSEK_WILKIE', sky.sun_direction
            texture.turbidity, texture.ground_albedo = sky.turbidity, sky.ground_albedo
            world.node_tree.links.new(texture.outputs['Color'], background.inputs['Color'])

    def _render_pass(self, colour):
        """Render the colour or the ground-truth pass; return (H, W, 4) float32, row 0 top."""
        scene, cycles = self._scene, self._scene.cycles
        cycles.samples = self._samples if colour else 1
        cycles.filter_width = COLOUR_FILTER_WIDTH if colour else DATA_FILTER_WIDTH
        cycles.use_denoising = colour and self._denoise
        source = self._layers.outputs['Image'] if colour else self._passes.outputs['Image']
        scene.node_tree.links.new(source, self._composite.inputs['Image'])
        scene.render.filepath = str(self._exchange)
        with _quiet():
            bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(str(self._exchange), check_existing=False)
        try:
            pixels = np.empty(self.width * self.height * 4, np.float32)
            image.pixels.foreach_get(pixels)
        finally:
            bpy.data.images.remove(image)
            self._exchange.unlink()
        return pixels.reshape(self.height, self.width, 4)[::-1]

    def render(self, scene):
        """Return the :class:`RenderedFrame` of a scene (module docstring: how)."""
        look = scene.look if scene.look is not None else sample_look(
            np.random.default_rng(0), scene)
        try:
            self._build(scene, look)
            radiance = self._render_pass(colour=True)[..., :3]
            passes = self._render_pass(colour=False)
        finally:
            self._clear_frame()
        labels = np.rint(passes[..., 1]).astype(np.int32) - 1
        depth = np.where(labels >= 0, passes[..., 0], 0.0).astype(np.float32)
        rgb = apply_camera_effects(develop(radiance, look.exposure), look.camera,
                                   np.random.default_rng(look.seed))
        return RenderedFrame(rgb, depth, labels)
