"""Tests of the real-dataset readers on tiny fixtures written in each official on-disk layout."""

import json

import cv2
import h5py
import numpy as np
import pytest
from scipy.io import savemat
import torch

from rgbd_perception.io.bop import read_models_info
from rgbd_perception.io.images import write_depth_png, write_rgb
from training.datasets import (Bop, DatasetLayoutError, DATASETS, KittiDepthCompletion,
                               leave_one_instance_out, NyuDepthV2, RgbdSample, SunRgbd, TumRgbd,
                               VoidDepth, WashingtonRgbdObject)
from training.datasets.tum import associate

H, W = 6, 8


def colour(seed):
    """Return a seeded random (H, W, 3) uint8 image."""
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def units(seed, high=60000):
    """Return a seeded random (H, W) uint16 image with a few zeros (missing depth)."""
    values = np.random.default_rng(seed).integers(1, high, (H, W)).astype(np.uint16)
    values[0, :3] = 0
    return values


def write_mask(path, mask):
    """Write a (H, W) bool mask as an 8-bit 0 / 255 PNG, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask.astype(np.uint8) * 255)


def assert_sample(sample, rgb, depth, K):
    """Assert the common fields of an RgbdSample: types, shapes and exact values."""
    assert isinstance(sample, RgbdSample)
    assert sample.rgb.dtype == np.uint8 and sample.depth.dtype == np.float32
    np.testing.assert_array_equal(sample.rgb, rgb)
    np.testing.assert_allclose(sample.depth, depth, rtol=1e-6)
    np.testing.assert_allclose(sample.K, K, rtol=0, atol=1e-6)  # published to 6 decimals


def test_registry_names_every_reader():
    """The registry maps the eight names (seven datasets, ROS 2 recordings) to Datasets."""
    assert set(DATASETS) == {'nyu', 'sun_rgbd', 'tum', 'kitti_depth', 'void', 'bop',
                             'washington', 'recording'}
    assert all(issubclass(cls, torch.utils.data.Dataset) for cls in DATASETS.values())


# NYU Depth v2 ------------------------------------------------------------------------------

NYU_K = np.array([[518.857901, 0, 325.582449], [0, 519.469611, 253.736166], [0, 0, 1]])
#: A 1-based (MATLAB) K minus this is the 0-based K of the same camera (every sample's K).
ONE_PIXEL = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])


@pytest.fixture
def nyu_root(tmp_path):
    """Write a 3-frame nyu_depth_v2_labeled.mat (HDF5, MATLAB axis order) and splits.mat."""
    rgb = np.stack([colour(i) for i in range(3)])
    depth = np.random.default_rng(5).uniform(0.5, 9.0, (3, H, W)).astype(np.float32)
    labels = np.zeros((3, H, W), np.uint16)
    labels[:, :, 4:] = 7
    labels[0, :2, :2] = 3
    instances = np.zeros((3, H, W), np.uint8)
    instances[:, :, 4:] = 1
    instances[0, :, 6:] = 2
    with h5py.File(tmp_path / 'nyu_depth_v2_labeled.mat', 'w') as mat:
        mat['images'] = rgb.transpose(0, 3, 2, 1)
        mat['depths'] = depth.transpose(0, 2, 1)
        mat['rawDepths'] = (depth * 0.5).transpose(0, 2, 1)
        mat['labels'] = labels.transpose(0, 2, 1)
        mat['instances'] = instances.transpose(0, 2, 1)
    savemat(tmp_path / 'splits.mat', {'trainNdxs': np.array([[1], [3]]),
                                      'testNdxs': np.array([[2]])})
    return tmp_path, rgb, depth, labels


def test_nyu_reads_transposed_mat(nyu_root):
    """Frames come back as (H, W) images in metres with the toolbox K and instance masks."""
    root, rgb, depth, labels = nyu_root
    dataset = NyuDepthV2(root)
    assert len(dataset) == 3
    sample = dataset[0]
    assert_sample(sample, rgb[0], depth[0], NYU_K - ONE_PIXEL)
    np.testing.assert_array_equal(sample.labels, labels[0])
    assert sample.gravity is None
    # (class, instance) pairs of frame 0: (3, 0), (7, 1), (7, 2).
    np.testing.assert_array_equal(sample.object_ids, [3, 7, 7])
    assert sample.masks.shape == (3, H, W)
    np.testing.assert_array_equal(sample.masks[0], labels[0] == 3)
    assert sample.masks[1].sum() == H * 2 and sample.masks[2].sum() == H * 2
    np.testing.assert_allclose(NyuDepthV2(root, raw_depth=True)[1].depth, depth[1] * 0.5)


def test_nyu_official_split(nyu_root):
    """The 1-based indices of splits.mat select the frames."""
    root, rgb, _, _ = nyu_root
    train, test = NyuDepthV2(root, 'train'), NyuDepthV2(root, 'test')
    assert len(train) == 2 and len(test) == 1
    np.testing.assert_array_equal(train[1].rgb, rgb[2])
    np.testing.assert_array_equal(test[0].rgb, rgb[1])


def test_nyu_broken_layout(nyu_root, tmp_path_factory):
    """Missing files or datasets are reported by name."""
    root, _, _, _ = nyu_root
    (root / 'splits.mat').unlink()
    with pytest.raises(DatasetLayoutError, match='splits.mat'):
        NyuDepthV2(root, 'train')
    empty = tmp_path_factory.mktemp('empty')
    with pytest.raises(DatasetLayoutError, match='nyu_depth_v2_labeled.mat'):
        NyuDepthV2(empty)
    with h5py.File(empty / 'nyu_depth_v2_labeled.mat', 'w') as mat:
        mat['images'] = np.zeros((1, 3, W, H), np.uint8)
        mat['depths'] = np.zeros((1, W, H), np.float32)
    with pytest.raises(DatasetLayoutError, match="'labels'"):
        NyuDepthV2(empty)


# SUN RGB-D ---------------------------------------------------------------------------------

def sun_encode(millimetres):
    """Return the uint16 PNG values of depths in mm: a 16-bit left rotation by 3 bits."""
    mm = millimetres.astype(np.uint32)
    return (((mm << 3) | (mm >> 13)) & 0xFFFF).astype(np.uint16)


def pitch_down_extrinsics(degrees):
    """Return the 3 x 4 SUN RGB-D extrinsics (Rtilt, 0) of a camera pitched down by degrees."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1.0, 0, 0, 0], [0, c, s, 0], [0, -s, c, 0]])


@pytest.fixture
def sun_root(tmp_path):
    """Write two SUN RGB-D scene folders (one with extrinsics and seg.mat) and allsplit.mat."""
    root = tmp_path / 'SUNRGBD'
    millimetres = np.random.default_rng(3).integers(1, 7999, (H, W))
    millimetres[0, 0], millimetres[0, 1] = 0, 9500
    scenes = {'kv1/NYUdata/NYU0001': 'NYU0001', 'realsense/lg/2014_10_24-16_28_45': '0000103'}
    K = np.array([[520.5, 0, 4.5], [0, 521.5, 3.5], [0, 0, 1]])
    for index, (scene, stem) in enumerate(scenes.items()):
        folder = root / scene
        write_rgb(folder / 'image' / f'{stem}.jpg', np.full((H, W, 3), 40 + 60 * index, np.uint8))
        write_depth_png(folder / 'depth' / f'{stem}.png', sun_encode(millimetres + index))
        np.savetxt(folder / 'intrinsics.txt', K + index)
    extrinsics = root / 'kv1/NYUdata/NYU0001/extrinsics'
    extrinsics.mkdir()
    np.savetxt(extrinsics / '20140101000000.txt', pitch_down_extrinsics(-50.0))
    np.savetxt(extrinsics / '20150118202206.txt', pitch_down_extrinsics(30.0))
    seglabel = np.arange(H * W, dtype=np.uint16).reshape(H, W) % 5
    savemat(root / 'kv1/NYUdata/NYU0001/seg.mat',
            {'seglabel': seglabel, 'names': np.array(['wall', 'floor'], dtype=object)})
    split = tmp_path / 'SUNRGBDtoolbox' / 'traintestSUNRGBD'
    split.mkdir(parents=True)
    savemat(split / 'allsplit.mat', {
        'alltrain': np.array(['/n/fs/sun3d/data/SUNRGBD/realsense/lg/2014_10_24-16_28_45/'],
                             dtype=object),
        'alltest': np.array(['/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001'], dtype=object)})
    return root, millimetres, K, seglabel


def test_sun_rgbd_decodes_depth_and_gravity(sun_root):
    """Depth undoes the bit rotation (mm, clipped at 8 m); gravity follows the last extrinsics."""
    root, millimetres, K, seglabel = sun_root
    dataset = SunRgbd(root)
    assert len(dataset) == 2
    kinect, realsense = dataset[0], dataset[1]
    expected = np.minimum(millimetres / 1000.0, 8.0)
    assert_sample(kinect, np.full((H, W, 3), 40, np.uint8), expected, K - ONE_PIXEL)
    assert kinect.depth[0, 1] == 8.0 and kinect.depth[0, 0] == 0.0
    # Pitched down by 30 degrees: down is +y (image down) tilted towards +z (forward).
    angle = np.radians(30.0)
    np.testing.assert_allclose(kinect.gravity, [0.0, np.cos(angle), np.sin(angle)], atol=1e-12)
    np.testing.assert_array_equal(kinect.labels, seglabel)
    assert kinect.name == 'kv1/NYUdata/NYU0001'
    np.testing.assert_allclose(realsense.depth, np.minimum((millimetres + 1) / 1000.0, 8.0),
                               rtol=1e-6)
    # Its file holds K + 1: fx, fy one larger; cx, cy one larger and converted to 0-based.
    np.testing.assert_array_equal(realsense.K, K + np.diag([1.0, 1.0, 0.0]))
    assert realsense.gravity is None and realsense.labels is None
    assert np.abs(realsense.rgb.astype(int) - 100).max() <= 2  # JPEG


def test_sun_rgbd_toolbox_split(sun_root):
    """The toolbox's absolute split paths select scenes by their part after 'SUNRGBD/'."""
    root = sun_root[0]
    assert [s.name for s in (SunRgbd(root, 'train')[0], SunRgbd(root, 'test')[0])] == [
        'realsense/lg/2014_10_24-16_28_45', 'kv1/NYUdata/NYU0001']


def test_sun_rgbd_broken_layout(sun_root, tmp_path):
    """A scene without depth/ or intrinsics.txt, or a missing split file, is named."""
    root = sun_root[0]
    (root / 'kv1/NYUdata/NYU0001/intrinsics.txt').unlink()
    with pytest.raises(DatasetLayoutError, match='intrinsics.txt'):
        SunRgbd(root)[0]
    with pytest.raises(DatasetLayoutError, match='allsplit.mat'):
        SunRgbd(root, 'train', split_file=tmp_path / 'allsplit.mat')
    (tmp_path / 'lonely' / 'scene' / 'image').mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match='depth/'):
        SunRgbd(tmp_path / 'lonely')


# TUM RGB-D ---------------------------------------------------------------------------------

def write_tum_sequence(folder, rgb_stamps, depth_stamps):
    """Write a TUM sequence folder with the official list files, comments included."""
    for kind, stamps in (('rgb', rgb_stamps), ('depth', depth_stamps)):
        lines = [f'# {kind} images', "# file: 'rgbd_dataset.bag'", '# timestamp filename']
        for i, stamp in enumerate(stamps):
            name = f'{kind}/{stamp:.6f}.png'
            lines.append(f'{stamp:.6f} {name}')
            if kind == 'rgb':
                write_rgb(folder / name, colour(round(stamp * 1000)))
            else:
                write_depth_png(folder / name, units(round(stamp * 1000)))
        (folder / f'{kind}.txt').write_text('\n'.join(lines) + '\n')


def reference_associate(first, second, max_difference=0.02):
    """Return the pairs of the official associate.py (quadratic loop, offset 0)."""
    candidates = sorted((abs(a - b), a, b) for a in first for b in second
                        if abs(a - b) < max_difference)
    first, second, pairs = list(first), list(second), []
    for _, a, b in candidates:
        if a in first and b in second:
            first.remove(a)
            second.remove(b)
            pairs.append((a, b))
    return sorted(pairs)


def test_tum_associate_matches_official_script():
    """The windowed association equals associate.py on jittered 30 Hz streams."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        first = np.round(1305031102 + np.arange(60) / 30 + rng.uniform(0, 0.02, 60), 6)
        second = np.round(1305031102 + np.arange(55) / 30 + rng.uniform(-0.03, 0.03, 55), 6)
        assert associate(first, second) == reference_associate(first, second)


def test_tum_pairs_frames_and_scales_depth(tmp_path):
    """Frames are paired greedily within 0.02 s; depth is v / 5000 m; K follows freiburgN."""
    write_tum_sequence(tmp_path / 'rgbd_dataset_freiburg1_xyz', [1.000, 1.015, 1.100],
                       [1.008, 1.104, 1.300])
    write_tum_sequence(tmp_path / 'rgbd_dataset_freiburg3_office', [2.0], [2.01])
    write_tum_sequence(tmp_path / 'kitchen', [3.0], [3.0])
    dataset = TumRgbd(tmp_path)
    # (1.000, 1.008) loses to (1.015, 1.008): each depth frame is used once.
    assert [s.name for s in dataset] == ['kitchen/3.000000', 'rgbd_dataset_freiburg1_xyz/1.015000',
                                         'rgbd_dataset_freiburg1_xyz/1.100000',
                                         'rgbd_dataset_freiburg3_office/2.000000']
    fr1 = np.array([[517.3, 0, 318.6], [0, 516.5, 255.3], [0, 0, 1]])
    assert_sample(dataset[1], colour(1015), units(1008) / 5000.0, fr1)
    assert_sample(dataset[3], colour(2000), units(2010) / 5000.0,
                  [[535.4, 0, 320.1], [0, 539.2, 247.6], [0, 0, 1]])
    np.testing.assert_array_equal(dataset[0].K, [[525.0, 0, 319.5], [0, 525.0, 239.5],
                                                 [0, 0, 1]])
    assert len(TumRgbd(tmp_path / 'rgbd_dataset_freiburg1_xyz')) == 2


def test_tum_broken_layout(tmp_path):
    """A folder without rgb.txt, a missing depth.txt or a listed image is named."""
    with pytest.raises(DatasetLayoutError, match='rgb.txt'):
        TumRgbd(tmp_path)
    write_tum_sequence(tmp_path, [1.0], [1.0])
    (tmp_path / 'depth' / '1.000000.png').unlink()
    with pytest.raises(DatasetLayoutError, match='1.000000.png'):
        TumRgbd(tmp_path)[0]
    (tmp_path / 'depth.txt').unlink()
    with pytest.raises(DatasetLayoutError, match='depth.txt'):
        TumRgbd(tmp_path)


# KITTI depth completion --------------------------------------------------------------------

KITTI_DRIVE = '2011_09_26_drive_0001_sync'
P_RECT = {'02': [721.5377, 0, 609.5593, 44.85728, 0, 721.5377, 172.854, 0.2163791, 0, 0, 1,
                 0.002745884],
          '03': [721.5, 0, 609.6, -339.5242, 0, 721.6, 172.9, 2.199936, 0, 0, 1, 0.002729905]}


@pytest.fixture
def kitti_roots(tmp_path):
    """Write two image_02 frames and one image_03 frame of a drive, raw images and calib."""
    root, raw = tmp_path / 'depth', tmp_path / 'raw'
    for camera, frames in (('image_02', ('0000000005', '0000000006')),
                           ('image_03', ('0000000005',))):
        for frame in frames:
            seed = int(frame) + 10 * int(camera[-1])
            projected = root / 'train' / KITTI_DRIVE / 'proj_depth'
            write_depth_png(projected / 'velodyne_raw' / camera / f'{frame}.png', units(seed))
            write_depth_png(projected / 'groundtruth' / camera / f'{frame}.png', units(seed + 1))
            write_rgb(raw / '2011_09_26' / KITTI_DRIVE / camera / 'data' / f'{frame}.png',
                      colour(seed))
    lines = ['calib_time: 09-Jan-2012 13:57:47', 'corner_dist: 9.950000e-02',
             'S_02: 1.392000e+03 5.120000e+02']
    lines += [f'P_rect_{n}: ' + ' '.join(f'{v:e}' for v in values) for n, values in P_RECT.items()]
    (raw / '2011_09_26' / 'calib_cam_to_cam.txt').write_text('\n'.join(lines) + '\n')
    return root, raw


def test_kitti_reads_sparse_and_dense_depth(kitti_roots):
    """Sparse input and ground truth are v / 256 m; K is the left 3 x 3 of P_rect_0N."""
    root, raw = kitti_roots
    dataset = KittiDepthCompletion(root, raw)
    assert len(dataset) == 3
    sample = dataset[1]
    assert_sample(sample, colour(26), units(26) / 256.0, np.reshape(P_RECT['02'], (3, 4))[:, :3])
    np.testing.assert_allclose(sample.depth_gt, units(27) / 256.0, rtol=1e-6)
    assert sample.name == f'train/{KITTI_DRIVE}/image_02/0000000006'
    np.testing.assert_allclose(dataset[2].K, np.reshape(P_RECT['03'], (3, 4))[:, :3])
    assert len(KittiDepthCompletion(root, raw, cameras=('image_03',))) == 1


def test_kitti_broken_layout(kitti_roots):
    """A missing split, calibration file or raw colour image is named."""
    root, raw = kitti_roots
    with pytest.raises(DatasetLayoutError, match='val'):
        KittiDepthCompletion(root, raw, 'val')
    (raw / '2011_09_26' / KITTI_DRIVE / 'image_02' / 'data' / '0000000005.png').unlink()
    with pytest.raises(DatasetLayoutError, match='image_02/data/0000000005.png'):
        KittiDepthCompletion(root, raw)[0]
    (raw / '2011_09_26' / 'calib_cam_to_cam.txt').unlink()
    with pytest.raises(DatasetLayoutError, match='calib_cam_to_cam.txt'):
        KittiDepthCompletion(root, raw)


# VOID --------------------------------------------------------------------------------------

VOID_K = np.array([[514.6, 0, 315.5], [0, 514.9, 247.3], [0, 0, 1]])


@pytest.fixture
def void_root(tmp_path):
    """Write a void_150 folder with two train frames and its train_*.txt lists."""
    root = tmp_path / 'void_release'
    data = root / 'void_150' / 'data'
    lists = {kind: [] for kind in ('image', 'sparse_depth', 'ground_truth', 'intrinsics')}
    for index, (sequence, stamp) in enumerate((('classroom', '1552097915.2209'),
                                               ('stairs', '1552098001.5012'))):
        write_rgb(data / sequence / 'image' / f'{stamp}.png', colour(index))
        write_depth_png(data / sequence / 'sparse_depth' / f'{stamp}.png', units(index + 10))
        write_depth_png(data / sequence / 'ground_truth' / f'{stamp}.png', units(index + 20))
        prefix = 'data/void_release/void_150/data' if index == 0 else 'data'
        for kind in ('image', 'sparse_depth', 'ground_truth'):
            lists[kind].append(f'{prefix}/{sequence}/{kind}/{stamp}.png')
    np.savetxt(data / 'classroom' / 'K.txt', VOID_K)
    np.save(data / 'stairs' / 'K.npy', VOID_K + 1)
    lists['intrinsics'] = ['data/void_release/void_150/data/classroom/K.txt', 'data/stairs/K.npy']
    for kind, entries in lists.items():
        (root / 'void_150' / f'train_{kind}.txt').write_text('\n'.join(entries) + '\n')
    return root


def test_void_reads_listed_frames(void_root):
    """List entries resolve under void_150; depths are v / 256 m; K from K.txt or .npy."""
    dataset = VoidDepth(void_root, 150, 'train')
    assert len(dataset) == 2
    first, second = dataset
    assert_sample(first, colour(0), units(10) / 256.0, VOID_K)
    np.testing.assert_allclose(first.depth_gt, units(20) / 256.0, rtol=1e-6)
    assert first.name == 'data/classroom/image/1552097915.2209.png'
    assert_sample(second, colour(1), units(11) / 256.0, VOID_K + 1)


def test_void_broken_layout(void_root):
    """A missing density folder or list, or lists of different lengths, are named."""
    with pytest.raises(DatasetLayoutError, match='void_500'):
        VoidDepth(void_root, 500)
    with pytest.raises(DatasetLayoutError, match='test_image.txt'):
        VoidDepth(void_root, 150, 'test')
    (void_root / 'void_150' / 'train_ground_truth.txt').write_text('data/a.png\n')
    with pytest.raises(DatasetLayoutError, match='differ in length'):
        VoidDepth(void_root)


# BOP ---------------------------------------------------------------------------------------

BOP_K = [572.4114, 0.0, 325.2611, 0.0, 573.57043, 242.04899, 0.0, 0.0, 1.0]
ROTATION = [0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def write_json(path, content):
    """Write ``content`` as JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


@pytest.fixture
def bop_root(tmp_path):
    """Write a BOP test split: scene 1 (gray/, mask/ only) and scene 2 (rgb/, mask_visib/)."""
    root = tmp_path / 'lmo'
    for scene_id, folder, masks in ((1, 'gray', ('mask',)), (2, 'rgb', ('mask', 'mask_visib'))):
        scene = root / 'test' / f'{scene_id:06d}'
        cameras, gts = {}, {}
        for im_id in (0, 3):
            seed = 10 * scene_id + im_id
            image = colour(seed)
            write_rgb(scene / folder / f'{im_id:06d}.png',
                      np.repeat(image[..., :1], 3, axis=2) if folder == 'gray' else image)
            write_depth_png(scene / 'depth' / f'{im_id:06d}.png', units(seed, 20000))
            cameras[str(im_id)] = {'cam_K': BOP_K, 'depth_scale': 0.1 if im_id else 1.0}
            gts[str(im_id)] = [{'cam_R_m2c': ROTATION, 'cam_t_m2c': [10.0, -20.0, 800.0 + k],
                                'obj_id': obj_id} for k, obj_id in enumerate((1, 5))]
            for k in range(2):
                for mask in masks:
                    region = np.zeros((H, W), bool)
                    region[:, k * 4:k * 4 + (2 if mask == 'mask_visib' else 4)] = True
                    write_mask(scene / mask / f'{im_id:06d}_{k:06d}.png', region)
        write_json(scene / 'scene_camera.json', cameras)
        write_json(scene / 'scene_gt.json', gts)
    write_json(root / 'test_targets_bop19.json',
               [{'im_id': 3, 'inst_count': 1, 'obj_id': k, 'scene_id': 2} for k in (1, 5)])
    write_json(root / 'models' / 'models_info.json',
               {'1': {'diameter': 102.099, 'min_x': -37.9}, '5': {'diameter': 201.404}})
    return root


def test_bop_reads_scenes(bop_root):
    """Depth uses depth_scale; poses are in metres; mask_visib/ wins over mask/."""
    dataset = Bop(bop_root, 'test')
    assert len(dataset) == 4
    grey = dataset[0]
    assert grey.name == 'test/000001/000000'
    assert_sample(grey, np.repeat(colour(10)[..., :1], 3, axis=2), units(10, 20000) / 1000.0,
                  np.reshape(BOP_K, (3, 3)))
    assert grey.masks[0].sum() == H * 4  # mask/ (full silhouette)
    sample = dataset[3]
    assert_sample(sample, colour(23), units(23, 20000) * 0.1 / 1000.0, np.reshape(BOP_K, (3, 3)))
    np.testing.assert_array_equal(sample.object_ids, [1, 5])
    expected = np.eye(4)
    expected[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    expected[:3, 3] = [0.01, -0.02, 0.801]
    np.testing.assert_allclose(sample.poses[1], expected, atol=1e-12)
    assert sample.poses.shape == (2, 4, 4) and sample.masks.shape == (2, H, W)
    assert sample.masks[1, :, 4:6].all() and sample.masks[1].sum() == H * 2  # mask_visib/


def test_bop_targets_and_models_info(bop_root):
    """A targets file restricts the images; models_info.json keys become int object ids."""
    targets = Bop(bop_root, 'test', targets=bop_root / 'test_targets_bop19.json')
    assert len(targets) == 1 and targets[0].name == 'test/000002/000003'
    info = read_models_info(bop_root / 'models' / 'models_info.json')
    assert info == {1: {'diameter': 102.099, 'min_x': -37.9}, 5: {'diameter': 201.404}}


def test_bop_real_lmo_models_info(shared_data):
    """The LM-O models_info.json of the shared data lists 8 objects with positive diameters."""
    info = read_models_info(shared_data('lmo_models', 'models', 'models_info.json'))
    assert sorted(info) == [1, 5, 6, 8, 9, 10, 11, 12]
    assert all(entry['diameter'] > 0 for entry in info.values())


def test_bop_broken_layout(bop_root):
    """A missing split, scene_camera.json or mask image is named."""
    with pytest.raises(DatasetLayoutError, match='train_pbr'):
        Bop(bop_root, 'train_pbr')
    (bop_root / 'test' / '000002' / 'mask_visib' / '000003_000001.png').unlink()
    with pytest.raises(DatasetLayoutError, match='mask_visib/000003_000001.png'):
        Bop(bop_root)[3]
    (bop_root / 'test' / '000001' / 'scene_camera.json').unlink()
    with pytest.raises(DatasetLayoutError, match='scene_camera.json'):
        Bop(bop_root)


# Washington RGB-D Object -------------------------------------------------------------------

@pytest.fixture
def washington_root(tmp_path):
    """Write crops of apple_1 (frames 1_2, 1_10), apple_2 and banana_1 (no mask)."""
    frames = [('apple', 'apple_1', '1_10'), ('apple', 'apple_1', '1_2'),
              ('apple', 'apple_2', '4_1'), ('banana', 'banana_1', '2_5')]
    for seed, (category, instance, video_frame) in enumerate(frames):
        prefix = tmp_path / category / instance / f'{instance}_{video_frame}'
        write_rgb(prefix.with_name(prefix.name + '_crop.png'), colour(seed))
        write_depth_png(prefix.with_name(prefix.name + '_depthcrop.png'), units(seed, 4000))
        prefix.with_name(prefix.name + '_loc.txt').write_text(f'{200 + seed},{150 + seed}\n')
        if category == 'apple':
            write_mask(prefix.with_name(prefix.name + '_maskcrop.png'), units(seed) % 2 > 0)
    return tmp_path


def test_washington_reads_crops(washington_root):
    """Frames sort naturally; depth is mm; K is shifted to the crop; label = category index."""
    dataset = WashingtonRgbdObject(washington_root)
    assert dataset.categories == ['apple', 'banana'] and len(dataset) == 4
    assert [s.name for s in dataset] == ['apple/apple_1_1_2', 'apple/apple_1_1_10',
                                         'apple/apple_2_4_1', 'banana/banana_1_2_5']
    sample = dataset[0]
    assert_sample(sample, colour(1), units(1, 4000) / 1000.0,
                  [[570.3, 0, 321.0 - 201], [0, 570.3, 241.0 - 151], [0, 0, 1]] - ONE_PIXEL)
    assert sample.label == 0 and sample.object_ids.tolist() == [0]
    np.testing.assert_array_equal(sample.masks[0], units(1) % 2 > 0)
    assert dataset[3].label == 1 and dataset[3].masks is None


def test_washington_leave_one_instance_out(washington_root):
    """Each category holds out one instance; the split is a seeded partition of the frames."""
    dataset = WashingtonRgbdObject(washington_root)
    held_out_apples = set()
    for seed in range(8):
        train, test = leave_one_instance_out(dataset, seed)
        assert (train, test) == leave_one_instance_out(dataset, seed)
        assert sorted(train + test) == list(range(4))
        assert 3 in test  # banana_1 is the only banana
        apples = {dataset.frames[i][1] for i in test} - {'banana_1'}
        assert len(apples) == 1
        held_out_apples |= apples
    assert held_out_apples == {'apple_1', 'apple_2'}


def test_washington_broken_layout(washington_root, tmp_path_factory):
    """An empty folder or a frame without _loc.txt is named."""
    with pytest.raises(DatasetLayoutError, match='_crop.png'):
        WashingtonRgbdObject(tmp_path_factory.mktemp('empty'))
    (washington_root / 'apple' / 'apple_2' / 'apple_2_4_1_loc.txt').unlink()
    with pytest.raises(DatasetLayoutError, match='apple_2_4_1_loc.txt'):
        WashingtonRgbdObject(washington_root)[2]
