"""Synthetic RGB-D world: camera model, meshes, placement, sensor models, BOP output."""

import argparse
import hashlib
import json
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest
from renderer_checks import assert_edge_at_pixel_centres, render_edge, slanted_plane

from rgbd_perception.geometry.camera import depth_edges, project
from rgbd_perception.geometry.meshes import load_mesh, Mesh, read_obj
from rgbd_perception.io.images import read_depth
from training.synth import cli
from training.synth.annotate import bounding_box
from training.synth.bop_writer import (DEPTH_SCALE_MM, depth_to_png, FAR_DEPTH_SCALE_MM,
                                       frame_depth_scale)
from training.synth.camera import gravity_in_camera, intrinsics_from_vfov, look_at
from training.synth.catalogue import build_catalogue
from training.synth.generate import FrameWriter, generate, SynthConfig
from training.synth.mesh_tools import face_colour_atlas, write_ply
from training.synth.placement import (CLEARANCE, Occupancy, place_resting, Rectangle,
                                      resting_faces)
from training.synth.render import Renderer, stable_normals
from training.synth.resume import FolderError
from training.synth.scene import SceneOptions
from training.synth.sensor import (apply_sensor, dark_holes, depth_normals, edge_effects,
                                   flicker_dropout, gaussian_noise, grazing_holes, PRESETS,
                                   projector_shadow, view_directions)
from training.synth.shapes import box_mesh, cylinder_mesh, sphere_mesh
from training.synth.silhouette import rasterize_triangles

WIDTH, HEIGHT = 160, 120


def _signed_volume(mesh):
    corners = mesh.vertices[mesh.faces]
    return np.einsum('ij,ij->i', corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6


@pytest.fixture(scope='module')
def renderer(tmp_path_factory):
    """Return a 160 x 120 renderer with f = 100 px whose camera is the world frame."""
    k = np.array([[100.0, 0.0, (WIDTH - 1) / 2], [0.0, 100.0, (HEIGHT - 1) / 2], [0, 0, 1]])
    renderer = Renderer(WIDTH, HEIGHT, k, 0.05, 20.0, tmp_path_factory.mktemp('textures'))
    yield renderer, k
    renderer.close()


@pytest.mark.parametrize('fraction', [0.25, 0.5, 0.75])
def test_pixel_centres_of_k_are_where_tinyrenderer_samples(renderer, fraction):
    """An edge at column u covers exactly the pixel centres u' >= u (and rows alike)."""
    renderer, k = renderer
    assert_edge_at_pixel_centres(render_edge(renderer, k, fraction))


def test_metric_depth_of_a_slanted_plane_is_exact(renderer):
    """The depth buffer converts to the optical-frame z of a plane within float precision."""
    renderer, k = renderer
    frame, expected = slanted_plane(renderer, k, WIDTH)
    row = frame.depth[HEIGHT // 2]
    assert np.all(row > 0)
    np.testing.assert_allclose(row, expected, rtol=2e-4)


def test_stable_normals_survive_tinyrenderer_normalisation():
    """Float32 normalisation in TinyRenderer's order leaves the normals unchanged."""
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(2000, 3))
    normals = stable_normals(raw)
    x, y, z = normals.T
    factor = np.float32(1.0) / np.sqrt((x * x + y * y) + z * z)
    np.testing.assert_array_equal(normals * factor[:, None], normals)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert np.abs(normals - unit).max() < 1e-6


def test_ply_round_trip_and_units(tmp_path):
    """A mesh written in mm reads back in metres; 'auto' and forced units behave."""
    mesh = cylinder_mesh(0.03, 0.1)
    write_ply(tmp_path / 'obj_000007.ply', mesh)
    loaded, factor = load_mesh(tmp_path / 'obj_000007.ply')
    assert factor == 0.001
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-7)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)
    as_metres, factor = load_mesh(tmp_path / 'obj_000007.ply', unit='m')
    assert factor == 1.0
    np.testing.assert_allclose(as_metres.vertices, mesh.vertices * 1000.0, atol=1e-4)
    ascii_ply = tmp_path / 'tri.ply'
    ascii_ply.write_text('ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\n'
                         'property float y\nproperty float z\nelement face 1\n'
                         'property list uchar int vertex_indices\nend_header\n'
                         '0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n')
    quad, factor = load_mesh(ascii_ply)
    assert factor == 1.0
    np.testing.assert_array_equal(quad.faces, [[0, 1, 2], [0, 2, 3]])


def test_obj_reader_corners_and_texture(tmp_path):
    """OBJ corners split by uv, polygons fan-triangulate, negative indices, map_Kd texture."""
    cv2.imwrite(str(tmp_path / 'tex.png'), np.full((4, 4, 3), 255, np.uint8))
    (tmp_path / 'm.mtl').write_text('newmtl a\nmap_Kd tex.png\n')
    (tmp_path / 'm.obj').write_text(
        'mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n'
        'vt 0.5 0.5\nusemtl a\nf 1/1 2/2 3/3 4/4\nf -4/5 -3/5 -2/5\n')
    vertices, faces, normals, uvs, texture = read_obj(tmp_path / 'm.obj')
    assert faces.shape == (3, 3) and len(vertices) == 7  # 4 corners + 3 with the other uv
    assert normals is None and texture.shape == (4, 4, 3)
    np.testing.assert_array_equal(vertices[faces[-1]], [[0, 0, 0], [1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(uvs[faces[-1]], np.full((3, 2), 0.5))


def test_face_colour_atlas_keeps_face_colours():
    """Each face samples one texel holding the mean of its vertex colours."""
    mesh = box_mesh((0.1, 0.2, 0.3))
    colours = np.random.default_rng(0).integers(0, 256, (len(mesh.vertices), 3), np.uint8)
    atlas = face_colour_atlas(Mesh(mesh.vertices, mesh.faces, mesh.normals, colours=colours))
    side = atlas.texture.shape[0]
    texel = np.floor(atlas.uvs * side).astype(int)
    rows, columns = side - 1 - texel[:, 1], texel[:, 0]
    sampled = atlas.texture[rows, columns].reshape(-1, 3, 3)
    assert np.all(sampled == sampled[:, :1])
    expected = np.round(colours[mesh.faces].astype(float).mean(axis=1))
    np.testing.assert_array_equal(sampled[:, 0], expected)


def test_procedural_shapes_are_closed_and_face_outwards():
    """Signed volumes are positive and close to the solids' volumes."""
    assert _signed_volume(box_mesh((0.1, 0.2, 0.3))) == pytest.approx(0.006)
    assert _signed_volume(cylinder_mesh(0.05, 0.1)) == pytest.approx(np.pi * 0.05 ** 2 * 0.1,
                                                                     rel=0.01)
    assert _signed_volume(sphere_mesh(0.05)) == pytest.approx(4 / 3 * np.pi * 0.05 ** 3,
                                                              rel=0.02)


def test_resting_faces_of_a_box_and_placement():
    """A cube rests on 6 equally likely faces; placed objects touch the table, never overlap."""
    normals, probabilities = resting_faces(box_mesh((0.1, 0.1, 0.1)))
    assert len(normals) == 6
    np.testing.assert_allclose(probabilities, 1 / 6)
    normals, probabilities = resting_faces(box_mesh((0.3, 0.1, 0.05)))
    assert probabilities[np.argmax(np.abs(normals[:, 2]))] == probabilities.max()
    rng = np.random.default_rng(1)
    table = Rectangle((0.2, -0.1), 0.4, (0.4, 0.3), 0.75)
    occupancy = Occupancy()
    meshes = [box_mesh((0.12, 0.08, 0.05)), cylinder_mesh(0.04, 0.1), sphere_mesh(0.05)] * 3
    for mesh in meshes:
        pose = place_resting(rng, mesh, table, occupancy)
        assert pose is not None
        points = mesh.vertices @ pose[0].T + pose[1]
        assert points[:, 2].min() == pytest.approx(0.75 + CLEARANCE)
        assert table.contains(points[:, :2])
    footprints = occupancy.footprints
    for i, first in enumerate(footprints):
        for second in footprints[i + 1:]:
            assert cv2.intersectConvexConvex(first, second)[0] <= 0.0


def test_rasterizer_covers_pixel_centres():
    """Pixel centres inside or on a triangle are set; front_only drops clockwise faces."""
    square = np.array([[2.5, 3.5], [10.5, 3.5], [10.5, 7.5], [2.5, 7.5]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    mask = rasterize_triangles(square, faces, (12, 14))
    expected = np.zeros((12, 14), bool)
    expected[4:8, 3:11] = True
    np.testing.assert_array_equal(mask, expected)
    assert not rasterize_triangles(square, faces, (12, 14), front_only=True).any()
    assert rasterize_triangles(square, faces[:, ::-1], (12, 14), front_only=True).sum() == 32


def test_gaussian_noise_grows_with_depth():
    """sigma(z) = sigma_0 + sigma_2 z^2: measured per plane within 5 %."""
    rng = np.random.default_rng(0)
    for z in (1.0, 3.0):
        depth = np.full((300, 300), z, np.float32)
        noisy = gaussian_noise(depth, rng, 0.001, 0.002)
        assert np.std(noisy - depth) == pytest.approx(0.001 + 0.002 * z * z, rel=0.05)
    assert np.all(gaussian_noise(np.zeros((4, 4), np.float32), rng) == 0)


@pytest.mark.parametrize('baseline', [0.075, -0.075])
def test_projector_shadow_lies_beside_the_occluder(baseline):
    """Background pixels next to a near box, on the side away from the projector, become 0."""
    k = np.array([[100.0, 0.0, 49.5], [0.0, 100.0, 29.5], [0.0, 0.0, 1.0]])
    depth = np.full((60, 100), 2.0, np.float32)
    depth[20:40, 40:60] = 1.0
    result = projector_shadow(depth, k, baseline)
    shadow = result != depth
    assert np.all(result[shadow] == 0)
    # Width fx |b| (1/z_near - 1/z_far) = 3.75 px: the centres in (36.25, 40) for b > 0.
    columns = [37, 38, 39] if baseline > 0 else [60, 61, 62]
    expected = np.zeros_like(shadow)
    expected[20:40, columns] = True
    np.testing.assert_array_equal(shadow, expected)


def test_holes_only_where_documented():
    """Dark, grazing and flicker holes are 0 and leave every other pixel as it was."""
    rng = np.random.default_rng(2)
    depth = np.full((60, 80), 1.5, np.float32)
    rgb = np.full((60, 80, 3), 200, np.uint8)
    rgb[10:20, 10:30] = 5
    dark = dark_holes(depth, rgb, rng, threshold=0.1, probability=1.0, window=1)
    np.testing.assert_array_equal(dark == 0, np.all(rgb == 5, axis=2))
    blurred = dark_holes(depth, rgb, rng, threshold=0.1, probability=1.0, window=5)
    assert np.all(blurred[rgb[..., 0] == 200] == depth[rgb[..., 0] == 200])
    k = np.array([[400.0, 0.0, 39.5], [0.0, 400.0, 29.5], [0.0, 0.0, 1.0]])
    x = (np.arange(80) - k[0, 2]) / k[0, 0]
    # The plane z = 1 + 8 X meets every ray of this narrow camera at 77-89 degrees.
    slanted = np.tile(1.0 / (1.0 - 8.0 * x), (60, 1)).astype(np.float32)
    directions = view_directions(k, depth.shape)
    kept = grazing_holes(depth, depth_normals(depth, k), directions, 75.0)
    np.testing.assert_array_equal(kept, depth)
    assert np.all(grazing_holes(slanted, depth_normals(slanted, k), directions, 75.0) == 0)
    flicker = flicker_dropout(depth, rng, cell=16, fraction=0.05)
    assert np.mean(flicker == 0) == pytest.approx(0.05, abs=0.01)
    assert np.all((flicker == 0) | (flicker == depth))


def test_edge_effects_change_only_edges():
    """Dropped or flying pixels only at discontinuities, flying ones between the two sides."""
    depth = np.full((50, 50), 2.0, np.float32)
    depth[10:30, 10:30] = 1.0
    result = edge_effects(depth, np.random.default_rng(4), dropout=0.5, flying=1.0)
    changed = result != depth
    edges = depth_edges(depth, missing_is_edge=True)
    assert changed.any() and np.all(edges[changed])
    moved = changed & (result > 0)
    assert moved.any() and np.all((result[moved] > 1.0) & (result[moved] < 2.0))


def test_gravity_in_camera_of_look_at():
    """Looking down at 45 degrees, gravity points down and forward in the optical frame."""
    rotation, translation = look_at([0.0, -1.0, 2.0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(gravity_in_camera(rotation), [0.0, np.sqrt(0.5), np.sqrt(0.5)])
    np.testing.assert_allclose(rotation @ [0.0, 0.0, 1.0] + translation, [0.0, 0.0, np.sqrt(2)])


def test_depth_png_units():
    """Depth PNG units are 0.1 mm; beyond 6.5535 m and missing pixels are 0."""
    depth = np.array([[0.0, 0.5, 1.23456, 6.5535, 6.6]], np.float32)
    units = depth_to_png(depth)
    np.testing.assert_array_equal(units, [[0, 5000, 12346, 65535, 0]])
    assert np.abs(units[0, 1:4] * DEPTH_SCALE_MM / 1000.0 - depth[0, 1:4]).max() < 5.1e-5


@pytest.fixture(scope='module')
def catalogue():
    """Return the pybullet_data and procedural objects."""
    return build_catalogue(sources=('pybullet_data', 'procedural'))


def _config(out, **options):
    values = {'frames': 3, 'seed': 7, 'width': WIDTH, 'height': HEIGHT, 'frames_per_scene': 2,
              'scene': SceneOptions(min_objects=4, max_objects=6)}
    values.update(options)
    return SynthConfig(out=str(out), **values)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory, catalogue):
    """Return the folder of a 3-frame dataset in two scene folders, made by one process."""
    out = tmp_path_factory.mktemp('synth') / 'one'
    generate(_config(out), catalogue, workers=1)
    return out


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _read_json(path):
    return json.loads(Path(path).read_text())


def _images(root):
    """Yield (scene folder, im_id, scene_gt, scene_camera, scene_gt_info, gravity entries)."""
    for scene in sorted(p for p in root.iterdir() if p.name.isdigit()):
        names = ('scene_gt.json', 'scene_camera.json', 'scene_gt_info.json', 'gravity.json')
        files = [_read_json(scene / name) for name in names]
        for key in files[0]:
            yield (scene, int(key), *(f[key] for f in files))


def test_dataset_layout_and_fields(dataset, catalogue):
    """BOP files parse, hold the documented fields and agree with the masks."""
    objects = _read_json(dataset / 'objects.json')
    assert set(objects) == {str(m.obj_id) for m in catalogue}
    assert objects['1104']['symmetric'] and not objects['1000']['symmetric']
    assert objects['1000']['source'] == 'pybullet_data'
    assert objects['1000']['mesh_path'].endswith('duck.obj')
    info = _read_json(dataset / 'models' / 'models_info.json')
    assert info['1104']['diameter'] == pytest.approx(80.0, rel=1e-3)
    assert (dataset / 'models' / 'obj_001000.ply').is_file()
    images = list(_images(dataset))
    assert [(s.name, i) for s, i, *_ in images] == [('000000', 0), ('000000', 1), ('000001', 0)]
    for scene, im_id, gts, camera, infos, gravity in images:
        k = np.reshape(camera['cam_K'], (3, 3))
        np.testing.assert_allclose(k, intrinsics_from_vfov(WIDTH, HEIGHT, 49.1))
        assert camera['depth_scale'] == DEPTH_SCALE_MM
        rotation = np.reshape(camera['cam_R_w2c'], (3, 3))
        np.testing.assert_allclose(gravity, rotation @ [0.0, 0.0, -1.0], atol=1e-12)
        assert len(gts) == len(infos) >= 1
        for gt_index, (gt, entry) in enumerate(zip(gts, infos)):
            assert str(gt['obj_id']) in objects
            assert len(gt['cam_R_m2c']) == 9 and len(gt['cam_t_m2c']) == 3
            name = f'{im_id:06d}_{gt_index:06d}.png'
            full = cv2.imread(str(scene / 'mask' / name), cv2.IMREAD_GRAYSCALE) > 0
            visible = cv2.imread(str(scene / 'mask_visib' / name), cv2.IMREAD_GRAYSCALE) > 0
            assert np.all(full[visible])
            assert entry['px_count_visib'] == visible.sum()
            assert entry['px_count_all'] >= full.sum() >= entry['px_count_valid']
            assert entry['bbox_visib'] == bounding_box(visible)
            assert entry['visib_fract'] == pytest.approx(visible.sum() / entry['px_count_all'])


def _check_ground_truth(root, meshes):
    """Projected model vertices cover mask_visib; clean depth lies in the posed z range."""
    checked = 0
    for scene, im_id, gts, camera, _, _ in _images(root):
        k = np.reshape(camera['cam_K'], (3, 3))
        clean = cv2.imread(str(scene / 'depth_clean' / f'{im_id:06d}.png'), cv2.IMREAD_UNCHANGED)
        clean = clean * camera['depth_scale'] / 1000.0
        for gt_index, gt in enumerate(gts):
            name = f'{im_id:06d}_{gt_index:06d}.png'
            visible = cv2.imread(str(scene / 'mask_visib' / name), cv2.IMREAD_GRAYSCALE) > 0
            if visible.sum() < 20:
                continue
            points = (meshes[gt['obj_id']].vertices @ np.reshape(gt['cam_R_m2c'], (3, 3)).T
                      + np.asarray(gt['cam_t_m2c']) / 1000.0)
            hull = cv2.convexHull(np.round(project(points, k) * 16).astype(np.int32))
            covered = np.zeros(visible.shape, np.uint8)
            cv2.fillConvexPoly(covered, hull, 1, shift=4)
            covered = cv2.dilate(covered, np.ones((3, 3), np.uint8))
            assert covered[visible].mean() >= 0.95
            z = clean[visible & (clean > 0)]
            assert z.size and z.min() >= points[:, 2].min() - 0.01
            assert z.max() <= points[:, 2].max() + 0.01
            checked += 1
    assert checked >= 3


def test_ground_truth_agrees_with_the_images(dataset, catalogue):
    """The recorded poses reproduce the visible masks and depths of every object."""
    _check_ground_truth(dataset, {m.obj_id: m.mesh for m in catalogue})


def test_ground_truth_of_lmo_meshes(shared_data, tmp_path):
    """The real LM-O meshes (mm, vertex colours) keep their ids and exact ground truth."""
    models = shared_data('lmo_models', 'models')
    catalogue = build_catalogue(models, sources=('given',))
    assert [m.obj_id for m in catalogue] == [1, 5, 6, 8, 9, 10, 11, 12]
    generate(_config(tmp_path / 'lmo', frames=2, frames_per_scene=1000), catalogue)
    objects = _read_json(tmp_path / 'lmo' / 'objects.json')
    assert objects['5']['unit_scale_to_m'] == 0.001
    assert Path(objects['5']['mesh_path']) == (models / 'obj_000005.ply').resolve()
    meshes = {m.obj_id: load_mesh(models / f'obj_{m.obj_id:06d}.ply')[0] for m in catalogue}
    _check_ground_truth(tmp_path / 'lmo', meshes)


def test_same_seed_same_bytes_for_any_worker_count(dataset, catalogue, tmp_path):
    """Two processes write exactly what one did; another seed writes other images."""
    generate(_config(tmp_path / 'two'), catalogue, workers=2)
    assert _files(tmp_path / 'two') == _files(dataset)
    generate(_config(tmp_path / 'other', seed=8, frames=1), catalogue, workers=1)
    name = Path('000000') / 'rgb' / '000000.png'
    assert (tmp_path / 'other' / name).read_bytes() != (dataset / name).read_bytes()


#: Digest of the `dataset` fixture's scene folders as the code before randomisation levels and
#: physics (commit 347fd65) wrote them: the default world must not change.
DEFAULT_WORLD_SHA256 = '1276dfd4426565a1d41d6439d19f86b77bedf6fd02f0562f21c1a26ecb56e4b8'


def _scene_digest(root):
    """Return the SHA-256 of the scene folders: names, decoded PNG pixels and JSON bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*')
                       if p.is_file() and p.relative_to(root).parts[0].isdigit()):
        digest.update(path.relative_to(root).as_posix().encode())
        if path.suffix == '.png':
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            digest.update(f'{image.shape} {image.dtype}'.encode())
            digest.update(image.tobytes())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_default_world_is_unchanged(dataset):
    """Level 'none' without physics (the defaults) writes the pixels and JSON it always did."""
    assert SceneOptions().randomisation == 'none' and not SceneOptions().physics
    assert _scene_digest(dataset) == DEFAULT_WORLD_SHA256


def test_randomisation_changes_appearance_not_ground_truth(dataset, catalogue, tmp_path):
    """Level 'high': other colours in every frame, the same poses, exact ground truth."""
    out = tmp_path / 'high'
    generate(_config(out, scene=SceneOptions(min_objects=4, max_objects=6,
                                             randomisation='high')), catalogue)
    for scene in ('000000', '000001'):
        for name in ('scene_gt.json', 'scene_camera.json'):
            assert (out / scene / name).read_bytes() == (dataset / scene / name).read_bytes()
    for scene, im_id, *_ in _images(out):
        name = Path(scene.name) / 'rgb' / f'{im_id:06d}.png'
        changed = cv2.imread(str(out / name)).astype(int) - cv2.imread(str(dataset / name))
        assert np.mean(np.abs(changed) > 10) > 0.5
        assert (out / scene.name / 'depth_clean').is_dir()
    _check_ground_truth(out, {m.obj_id: m.mesh for m in catalogue})


def test_physics_scenes_are_deterministic_with_exact_ground_truth(catalogue, tmp_path):
    """Dropped objects: the same bytes twice, poses that reproduce masks and depths."""
    options = SceneOptions(min_objects=4, max_objects=6, physics=True, randomisation='low')
    for name in ('first', 'again'):
        generate(_config(tmp_path / name, frames=1, scene=options), catalogue)
    assert _files(tmp_path / 'first') == _files(tmp_path / 'again')
    _check_ground_truth(tmp_path / 'first', {m.obj_id: m.mesh for m in catalogue})


def test_sensor_models_change_depth_only_as_documented(dataset):
    """Sensor depth: holes, noise within 6 sigma, flying pixels at edges, projector shadows."""
    for scene, im_id, _, camera, _, _ in _images(dataset):
        k = np.reshape(camera['cam_K'], (3, 3))
        read = {kind: cv2.imread(str(scene / kind / f'{im_id:06d}.png'), cv2.IMREAD_UNCHANGED)
                * camera['depth_scale'] / 1000.0 for kind in ('depth', 'depth_clean')}
        sensor, clean = read['depth'], read['depth_clean']
        valid = sensor > 0
        assert np.all(clean[valid] > 0)
        sigma = 0.0012 + 0.0019 * clean ** 2
        flying = valid & (np.abs(sensor - clean) > 6 * sigma + 1e-4)
        assert np.all(depth_edges(clean.astype(np.float32), missing_is_edge=True)[flying])
        # A larger tolerance than the generator's: only pixels surely in its shadow.
        shadow = projector_shadow(clean.astype(np.float32), k, 0.075, tolerance_px=0.5) == 0
        shadow &= clean > 0
        assert shadow.any() and not np.any(valid & shadow)
        for row, column in zip(*np.nonzero(shadow)):
            right = np.flatnonzero(~shadow[row, column + 1:] & (clean[row, column + 1:] > 0))
            assert right.size and clean[row, column + 1 + right[0]] < clean[row, column]


def test_no_sensor_means_depth_equals_clean_depth(catalogue, tmp_path):
    """With --sensor none the depth PNG is the clean depth."""
    generate(_config(tmp_path / 'none', frames=1, sensor='none'), catalogue)
    scene = tmp_path / 'none' / '000000'
    assert (scene / 'depth' / '000000.png').read_bytes() == \
        (scene / 'depth_clean' / '000000.png').read_bytes()


def test_room_views_see_across_a_larger_room_in_mm_units(catalogue, tmp_path):
    """Room views look across the room; frames beyond 6.5 m keep their depth in 1 mm units."""
    options = SceneOptions(min_objects=1, max_objects=2, room_view_probability=1.0)
    generate(_config(tmp_path / 'room', frames=4, sensor='none', width=96, height=72,
                     scene=options), catalogue)
    far_frames = 0
    for scene, im_id, _, camera, _, _ in _images(tmp_path / 'room'):
        assert camera['depth_scale'] in (DEPTH_SCALE_MM, FAR_DEPTH_SCALE_MM)
        depth_m = read_depth(scene / 'depth_clean' / f'{im_id:06d}.png') \
            * camera['depth_scale'] / 1000.0
        assert (depth_m > 0).all()     # a closed room: every pixel sees a surface
        assert np.median(depth_m) > 1.0
        far_frames += camera['depth_scale'] == FAR_DEPTH_SCALE_MM
        if camera['depth_scale'] == FAR_DEPTH_SCALE_MM:
            assert depth_m.max() > 6.5
    assert far_frames >= 1
    assert frame_depth_scale(np.array([6.4])) == DEPTH_SCALE_MM
    assert frame_depth_scale(np.array([6.6])) == FAR_DEPTH_SCALE_MM


def test_apply_sensor_without_a_model_copies():
    """The 'none' preset returns an equal copy."""
    depth = np.ones((4, 4), np.float32)
    result = apply_sensor(PRESETS['none'], depth, np.zeros((4, 4, 3), np.uint8), np.eye(3),
                          (0, 0, 1), np.zeros((4, 4), bool), np.random.default_rng(0))
    assert result is not depth and np.array_equal(result, depth)


def test_cli_runs_and_refuses_a_used_folder(tmp_path, capsys):
    """
    add_arguments + run: a tiny dataset, frames/s printed; the same options again do nothing.

    Other options, or a non-empty --out that no synth run made, are refused with status 2.
    """
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / 'cli'
    argv = ['--out', str(out), '--frames', '1', '--width', '64', '--height', '48',
            '--sources', 'procedural', '--sensor', 'tof']
    assert cli.run(parser.parse_args(argv)) == 0
    assert 'frames/s' in capsys.readouterr().out
    assert (out / '000000' / 'rgb' / '000000.png').is_file()
    assert cli.run(parser.parse_args(argv)) == 0
    assert 'nothing to do' in capsys.readouterr().out
    assert cli.run(parser.parse_args(argv + ['--seed', '1'])) == 2
    assert 'seed: 0 there, 1 here' in capsys.readouterr().err
    (tmp_path / 'used').mkdir()
    (tmp_path / 'used' / 'notes.txt').write_text('not a dataset')
    argv[1] = str(tmp_path / 'used')
    assert cli.run(parser.parse_args(argv)) == 2
    assert 'not an empty folder' in capsys.readouterr().err


def _interrupt_at(monkeypatch, stop_index):
    """Make FrameWriter (in this process) raise KeyboardInterrupt at frame stop_index."""
    render_frame = FrameWriter.__call__

    def interrupted(writer, index):
        if index == stop_index:
            raise KeyboardInterrupt
        return render_frame(writer, index)

    monkeypatch.setattr(FrameWriter, '__call__', interrupted)


def test_an_interrupted_render_resumes_to_the_same_bytes(dataset, catalogue, tmp_path,
                                                         monkeypatch):
    """A second run renders only the frames not done; the folder equals an uninterrupted one."""
    out = tmp_path / 'resumed'
    _interrupt_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        generate(_config(out), catalogue)
    monkeypatch.undo()
    assert _read_json(out / 'synth.json')['complete'] is False
    assert (out / '000000' / 'scene_gt.json').is_file()
    # Frame 0 as if killed while writing it, and a temporary file an atomic write left.
    (out / '.frames' / '00000000.json').unlink()
    (out / '000000' / 'rgb' / '000000.png').write_bytes(b'partial')
    (out / '000000' / '.scene_gt.json.1.tmp').write_text('{')
    assert generate(_config(out), catalogue)[0] == 2
    assert _files(out) == _files(dataset)
    assert generate(_config(out), catalogue)[0] == 0
    with pytest.raises(FolderError, match='seed: 7 there, 8 here'):
        generate(_config(out, seed=8), catalogue)


def test_data_resumes_an_interrupted_partial_folder(tmp_path, monkeypatch, capsys):
    """render_generated: FOLDER.partial of an interrupted run is resumed, then renamed."""
    out = tmp_path / 'data'
    generated_by = (f'python -m training synth --out {out} --frames 2 --width 64 --height 48 '
                    '--sources procedural')
    _interrupt_at(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        cli.render_generated(generated_by)
    monkeypatch.undo()
    assert not out.exists() and (tmp_path / 'data.partial' / '.frames').is_dir()
    assert cli.render_generated(generated_by) == 0
    assert '1 frames of 64x48' in capsys.readouterr().out
    assert _read_json(out / 'synth.json')['complete'] and not (out / '.frames').exists()
    rgb = sorted(p.name for p in (out / '000000' / 'rgb').iterdir())
    assert rgb == ['000000.png', '000001.png']


@pytest.mark.slow
def test_ray_tasks_write_the_bytes_of_the_local_pool(dataset, catalogue, tmp_path, monkeypatch):
    """A local 2-CPU Ray instance writes what two pool processes write, then stops."""
    ray = pytest.importorskip('ray')
    check = 'import sys, training.synth.cli; assert "ray" not in sys.modules'
    subprocess.run([sys.executable, '-c', check], check=True)  # only --ray imports Ray
    generate(_config(tmp_path / 'pool'), catalogue, workers=2)
    monkeypatch.setenv('RAY_ADDRESS', 'local')  # start a private instance, join none
    assert generate(_config(tmp_path / 'ray'), catalogue, workers=2, ray='auto')[0] == 3
    assert not ray.is_initialized()
    assert _files(tmp_path / 'ray') == _files(tmp_path / 'pool') == _files(dataset)
