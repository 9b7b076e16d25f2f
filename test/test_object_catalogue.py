"""Object catalogues: the shipped YAML files load; bad files give errors naming the problem."""

from pathlib import Path

import numpy as np
import pytest

from rgbd_perception.geometry.meshes import surface_points
from rgbd_perception.io.catalogue import CatalogueError, load_catalogue
from rgbd_perception.io.data_paths import bundled_weights, data_file, share_path


def test_demo_catalogue_loads_its_shipped_meshes():
    """The demo set's six objects load in metres with diameters and symmetry flags."""
    catalogue = load_catalogue(share_path('config', 'objects', 'demo.yaml'))
    assert catalogue.name == 'demo' and catalogue.ids == [1000, 1100, 1101, 1102, 1103, 1104]
    box = catalogue[1100]
    np.testing.assert_allclose(box.extent, [0.12, 0.08, 0.05], atol=1e-6)
    assert box.diameter == pytest.approx(np.sqrt(0.12 ** 2 + 0.08 ** 2 + 0.05 ** 2), rel=1e-6)
    assert box.symmetric and not catalogue[1000].symmetric
    with pytest.raises(CatalogueError, match='no object with id 7'):
        catalogue[7]


def test_lmo_catalogue_matches_the_bop_models_info(shared_data):
    """LM-O meshes in mm become metres; diameters equal BOP's models_info (mm)."""
    import json

    models = shared_data('lmo_models', 'models')
    catalogue = load_catalogue(share_path('config', 'objects', 'lmo.yaml'), mesh_dir=models)
    info = json.loads((models / 'models_info.json').read_text())
    assert catalogue.ids == sorted(int(k) for k in info)
    for obj_id, obj in catalogue.objects.items():
        assert obj.diameter == pytest.approx(info[str(obj_id)]['diameter'] / 1000, rel=1e-3)
        assert obj.symmetric == ('symmetries_discrete' in info[str(obj_id)])


@pytest.mark.parametrize('text, message', [
    ('name: x\n', "missing 'objects'"),
    ('[1, 2]\n', 'a catalogue is a mapping'),
    ('name: x\nobjects: []\n', 'lists no objects'),
    ('name: x\nobjects:\n  - {id: 0, mesh: a.ply}\n', 'not positive or not unique'),
    ('name: x\nobjects:\n  - {id: 1, mesh: a.ply}\n  - {id: 1, mesh: a.ply}\n', 'not unique'),
    ('name: x\nobjects:\n  - {id: 1, mesh: a.ply, unit: km}\n', 'unit must be one of'),
    ('name: x\nobjects:\n  - {id: 1, mesh: missing.ply}\n', 'missing.ply not found'),
    ('name: x\nobjects:\n  - {id: true, mesh: a.ply}\n', "'id' must be int"),
    ('name: x\nobjects: [\n', 'cannot read'),
])
def test_bad_catalogues_are_rejected_with_the_reason(tmp_path, text, message):
    """Each malformed file raises CatalogueError naming the file and what is wrong."""
    from training.synth.mesh_tools import write_ply
    from training.synth.shapes import box_mesh

    write_ply(tmp_path / 'a.ply', box_mesh((0.1, 0.1, 0.1)))
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(CatalogueError, match=message) as error:
        load_catalogue(path)
    assert str(path) in str(error.value)


def test_surface_points_cover_the_faces_of_a_coarse_box():
    """The demo box has 24 vertices (its corners); surface points lie on its faces, spread."""
    box = load_catalogue(share_path('config', 'objects', 'demo.yaml'))[1100].mesh
    points = surface_points(box, 2000, np.random.default_rng(0))
    half = np.ptp(box.vertices, axis=0) / 2
    centre = box.vertices.min(axis=0) + half
    offset = np.abs(points - centre)
    assert points.shape == (2000, 3) and (offset <= half + 1e-9).all()
    on_a_face = np.isclose(offset, half, atol=1e-9).any(axis=1)
    assert on_a_face.all()
    inside_faces = (offset < 0.9 * half).sum(axis=1) >= 2     # away from edges and corners
    assert inside_faces.mean() > 0.5
    np.testing.assert_array_equal(points, surface_points(box, 2000, np.random.default_rng(0)))


def test_catalogue_paths_resolve_from_any_directory(tmp_path, monkeypatch):
    """A share-relative name finds the package's file anywhere; a user's own file is kept."""
    monkeypatch.chdir(tmp_path)
    shipped = data_file('config/objects/demo.yaml')
    assert shipped == share_path('config', 'objects', 'demo.yaml') and shipped.is_file()
    own = tmp_path / 'config' / 'objects' / 'demo.yaml'
    own.parent.mkdir(parents=True)
    own.write_text('name: mine\n')
    assert data_file('config/objects/demo.yaml') == Path('config/objects/demo.yaml')
    assert load_catalogue(shipped).weights == bundled_weights('pose_demo.safetensors')
