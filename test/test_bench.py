"""`rgbd-perception bench all`: every stage with its baselines in one table."""

from importlib.util import find_spec

import pytest

from rgbd_perception.cli import main


def test_bench_all_times_every_stage_in_one_table(ball_scene, capsys):
    """One frame per stage and runtime on the CPU: HHA, completion + IP-Basic, mono, poses."""
    pytest.importorskip('onnxruntime')
    assert main(['bench', 'all', '--frames', '1', '--warmup', '0', '--device', 'cpu',
                 '--sample-dir', str(ball_scene)]) == 0
    out = capsys.readouterr().out
    table = out[out.index('all stages, device cpu, 1 timed frames each:'):].splitlines()[1:]
    assert table[:2] == ['| what | n | median ms | p90 ms | p99 ms |', '|---|---|---|---|---|']
    labels = [row.split(' | ')[0].lstrip('| ') for row in table[2:]]
    runtimes = ['torch'] + [name for name in ('onnxruntime', 'openvino') if find_spec(name)]
    given = [f'pose, given detections, {refine}, {name}, {what}'
             for refine, name in [('ICP', name) for name in runtimes] + [('no ICP', 'torch')]
             for what in ('frame', 'per object')]
    assert labels == [
        'rgbd_perception HHA (cpu)', 'rgbd_perception HHA (torch kernels)',
        *[f'VanishingDepthNet (cpu, {name})' for name in runtimes], 'IP-Basic (cpu)',
        *[f'MonoDepthNet (cpu, {name})' for name in runtimes],
        *given[:2], 'pose, built-in detector, ICP, torch, frame', *given[2:],
        'pose, built-in detector, no ICP, torch, frame']
    for row in table[2:]:
        median, p90, p99 = (float(cell) for cell in row.strip('| ').split(' | ')[2:])
        assert 0 < median <= p90 <= p99


def test_bench_all_refuses_single_stage_inputs(capsys):
    """--weights would be given to three different models: a clear error instead."""
    assert main(['bench', 'all', '--weights', 'x.safetensors', '--device', 'cpu']) == 1
    assert 'bench all times the bundled weights' in capsys.readouterr().err
