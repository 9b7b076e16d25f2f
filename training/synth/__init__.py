"""
Synthetic RGB-D world: random tabletop scenes rendered with pybullet's TinyRenderer, in BOP.

``python -m training synth`` (:mod:`training.synth.cli`) writes a dataset; the modules:
:mod:`~training.synth.scene` (random scene descriptions; :mod:`~training.synth.randomisation`
its levels, :mod:`~training.synth.physics` objects dropped onto the table),
:mod:`~training.synth.catalogue` (objects and their ids), :mod:`~training.synth.shapes`
(procedural shapes; mesh files are read by :mod:`rgbd_perception.geometry.meshes`),
:mod:`~training.synth.render` (one frame),
:mod:`~training.synth.sensor` (depth sensor models), :mod:`~training.synth.photometric`
(camera effects on the colour image), :mod:`~training.synth.annotate` and
:mod:`~training.synth.bop_writer` (ground truth and files), :mod:`~training.synth.generate`
(frames across worker processes).
"""
