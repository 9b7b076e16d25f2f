"""Training framework: config, atomic checkpoints, resume, export, eval, CLI, DDP (toy-depth)."""

import csv
import importlib.util
import json
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import torch

from training.cli import main
from training.framework import checkpoint
from training.framework.config import ConfigError, default_config, resolve_config
from training.framework.evaluation import evaluate
from training.framework.export import (build_exported, export_checkpoint, ExportError,
                                       load_exported, manifest_path)
from training.framework.tasks import TASKS
from training.framework.toy_depth import ToyDepthTask
from training.framework.trainer import train

ROOT = Path(__file__).resolve().parents[1]
# A small, fast toy-depth run: 8 training frames of 32 x 24, 2 steps per epoch.
SMALL = ['data.num_frames=10', 'data.width=32', 'data.height=24', 'train.batch_size=4',
         'train.log_every=1', 'optim.lr=0.01', 'device=cpu']


def small_config(run_dir, *overrides):
    """Return the resolved toy-depth config of a small run in ``run_dir``."""
    return resolve_config(default_config(ToyDepthTask.config_name), None,
                          [*SMALL, f'run.dir={run_dir}', *overrides])


def final_weights(run_dir):
    """Return the model state dict of the latest checkpoint of ``run_dir``."""
    return checkpoint.load(run_dir)['model']


def assert_same_weights(first, second):
    """Assert two state dicts hold bit-identical tensors."""
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def log_losses(run_dir):
    """Return {step: loss} of the run's log.csv."""
    with open(Path(run_dir) / 'log.csv', newline='') as handle:
        return {int(row['step']): row['loss'] for row in csv.DictReader(handle)}


def training_env():
    """Return the environment of a `python -m training` subprocess: any cwd, one thread."""
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get('PYTHONPATH')])])}


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Run torch on one thread: the nets are tiny, and spinning threads crawl on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory):
    """Return the run dir of an uninterrupted 6-step toy-depth run, a checkpoint every step."""
    run_dir = tmp_path_factory.mktemp('train') / 'run'
    train(ToyDepthTask, small_config(run_dir, 'train.steps=6', 'train.checkpoint_every=1',
                                     'train.keep_checkpoints=0'), run_dir)
    return run_dir


# --- config -----------------------------------------------------------------------------

def test_config_file_and_overrides(tmp_path):
    """A YAML file then dotted overrides update the defaults, with the defaults' types."""
    cfg = tmp_path / 'cfg.yaml'
    cfg.write_text('optim:\n  lr: 1e-3\ntrain:\n  steps: 50\nmodel:\n  channels: 4\n')
    config = resolve_config(default_config('toy_depth.yaml'), cfg,
                            ['optim.lr=0.01', 'train.steps=20', 'optim.clip_grad_norm=2',
                             'run.name=exp1'])
    assert config['optim']['lr'] == 0.01 and config['train']['steps'] == 20
    assert config['model'] == {'channels': 4}
    assert config['optim']['clip_grad_norm'] == 2 and config['run']['name'] == 'exp1'
    assert config['train']['batch_size'] == 4  # toy_depth.yaml's value over base.yaml's 8
    assert config['train']['num_workers'] == 0  # base.yaml's value
    file_only = resolve_config(default_config('toy_depth.yaml'), cfg)
    assert file_only['optim']['lr'] == 1e-3 and isinstance(file_only['optim']['lr'], float)


@pytest.mark.parametrize('overrides, message', [
    (['train.stepz=5'], 'unknown config key: train.stepz'),
    (['nonsense.key=1'], 'unknown config key: nonsense'),
    (['train.steps=many'], 'config key train.steps: expected int'),
    (['train.steps=2.5'], 'config key train.steps: expected int'),
    (['amp=1'], 'config key amp: expected bool'),
    (['optim=fast'], 'config key optim: expected a mapping'),
    (['train.steps'], "override 'train.steps' is not of the form dotted.key=value"),
    (['train..steps=1'], 'is not of the form'),
    (['train.steps=[1'], 'value is not valid YAML'),
])
def test_config_errors_name_the_key(overrides, message):
    """Unknown keys, wrong types and malformed overrides raise ConfigError naming them."""
    with pytest.raises(ConfigError, match=message.replace('.', r'\.').replace('[', r'\[')):
        resolve_config(default_config('toy_depth.yaml'), None, overrides)


def test_config_file_unknown_key(tmp_path):
    """A config file's unknown key is an error naming its dotted path."""
    cfg = tmp_path / 'cfg.yaml'
    cfg.write_text('optim:\n  learning_rate: 0.1\n')
    with pytest.raises(ConfigError, match=r'unknown config key: optim\.learning_rate'):
        resolve_config(default_config('toy_depth.yaml'), cfg)


# --- checkpoints ------------------------------------------------------------------------

def test_atomic_checkpoint_survives_a_failed_write(tmp_path, monkeypatch):
    """A serialisation that fails mid-write leaves the previous checkpoint and latest.pt."""
    checkpoint.save_step({'step': 1, 'w': torch.ones(3)}, tmp_path, 1, keep=0)

    def failing_save(state, path):
        Path(path).write_bytes(b'half a checkpoint')
        raise RuntimeError('disk full')

    monkeypatch.setattr(torch, 'save', failing_save)
    with pytest.raises(RuntimeError, match='disk full'):
        checkpoint.save_step({'step': 2, 'w': torch.zeros(3)}, tmp_path, 2, keep=0)
    with pytest.raises(RuntimeError, match='disk full'):
        checkpoint.save_atomic({'step': 2}, checkpoint.step_path(tmp_path, 1))
    monkeypatch.undo()
    assert checkpoint.step_checkpoints(tmp_path) == [checkpoint.step_path(tmp_path, 1)]
    assert sorted(p.name for p in (tmp_path / 'checkpoints').iterdir()) == ['step_000001.pt']
    for path in (tmp_path, checkpoint.step_path(tmp_path, 1)):
        state = checkpoint.load(path)
        assert state['step'] == 1 and torch.equal(state['w'], torch.ones(3))


def test_checkpoints_pruned_and_latest_follows(tmp_path):
    """Only the newest `keep` step files stay; latest.pt always holds the newest state."""
    for step in (1, 2, 3):
        checkpoint.save_step({'step': step}, tmp_path, step, keep=2)
        assert checkpoint.load(tmp_path)['step'] == step
    assert [p.name for p in checkpoint.step_checkpoints(tmp_path)] == [
        'step_000002.pt', 'step_000003.pt']


def test_rng_state_round_trip_weights_only(tmp_path):
    """RNG states saved in a checkpoint load with weights_only and replay the same draws."""
    state = checkpoint.rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    checkpoint.save_atomic({'rng': state}, tmp_path / 'rng.pt')
    checkpoint.set_rng_state(checkpoint.load(tmp_path / 'rng.pt')['rng'])
    replay = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], replay[0])
    assert np.array_equal(expected[1], replay[1]) and expected[2] == replay[2]


# --- training and resume ----------------------------------------------------------------

def test_training_writes_run_directory(trained_run):
    """A run leaves config.yaml, log.csv, step checkpoints and latest.pt; the loss falls."""
    assert (trained_run / 'config.yaml').is_file()
    assert [p.name for p in checkpoint.step_checkpoints(trained_run)] == [
        f'step_{step:06d}.pt' for step in range(1, 7)]
    state = checkpoint.load(trained_run)
    assert state['step'] == 6 and state['epoch'] == 2 and state['task'] == 'toy-depth'
    assert state['config']['train']['steps'] == 6 and len(state['rng']) == 1
    assert {'optimizer', 'scheduler', 'scaler'} <= state.keys()
    losses = log_losses(trained_run)
    assert list(losses) == [1, 2, 3, 4, 5, 6]
    assert float(losses[6]) < float(losses[1])


class InterruptedToyDepth(ToyDepthTask):
    """toy-depth whose 4th training step is interrupted, as if by Ctrl-C."""

    def __init__(self, config):
        super().__init__(config)
        self.calls = 0

    def loss(self, model, batch):
        """Raise KeyboardInterrupt on the 4th call."""
        self.calls += 1
        if self.calls == 4:
            raise KeyboardInterrupt
        return super().loss(model, batch)


def test_resume_matches_uninterrupted_run(trained_run, tmp_path):
    """3 steps, an interruption, then --resume end with the uninterrupted run's weights."""
    run_dir = tmp_path / 'run'
    config = small_config(run_dir, 'train.steps=6', 'train.checkpoint_every=1')
    with pytest.raises(KeyboardInterrupt):
        train(InterruptedToyDepth, config, run_dir)
    assert checkpoint.load(run_dir)['step'] == 3
    with pytest.raises(ConfigError, match='already holds checkpoints'):
        train(ToyDepthTask, config, run_dir)
    resume = small_config(run_dir, 'train.steps=6', 'train.checkpoint_every=1',
                          'run.resume=required')
    train(ToyDepthTask, resume, run_dir)
    assert_same_weights(final_weights(trained_run), final_weights(run_dir))
    assert log_losses(run_dir) == log_losses(trained_run)


@pytest.mark.slow
def test_sigint_then_resume_matches_uninterrupted_run(tmp_path, monkeypatch, capsys):
    """A real SIGINT after the first checkpoint, then --resume: the uninterrupted weights."""
    overrides = [*SMALL, 'train.steps=120', 'optim.lr=0.001']
    reference = tmp_path / 'reference'
    train(ToyDepthTask, resolve_config(default_config('toy_depth.yaml'), None, [
        *overrides, f'run.dir={reference}']), reference)
    run_dir = tmp_path / 'run'
    argv = ['toy-depth', '--run-dir', str(run_dir), *overrides, 'train.checkpoint_every=10']
    stderr_path = tmp_path / 'stderr.txt'
    with open(stderr_path, 'w') as stderr:  # a file: a full pipe would stall the child
        process = subprocess.Popen([sys.executable, '-m', 'training', *argv], cwd=tmp_path,
                                   env=training_env(), stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    deadline = time.monotonic() + 60
    while not (run_dir / 'latest.pt').exists() and process.poll() is None:
        assert time.monotonic() < deadline, 'no checkpoint appeared'
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130, stderr_path.read_text()
    err = stderr_path.read_text()
    assert 'continue with --resume' in err
    interrupted_at = checkpoint.load(run_dir)['step']
    assert 0 < interrupted_at < 120
    assert not list(run_dir.rglob('*.tmp'))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main([*argv, '--resume']) == 0
    assert f'steps {interrupted_at + 1}..120' in capsys.readouterr().out
    assert_same_weights(final_weights(reference), final_weights(run_dir))
    assert log_losses(run_dir) == log_losses(reference)  # rows after the checkpoint replaced


@pytest.mark.cuda
def test_cuda_mixed_precision_interrupt_and_resume(tmp_path):
    """On CUDA with amp, the scaler state is checkpointed and an interrupted run resumes."""
    run_dir = tmp_path / 'run'
    overrides = ['device=cuda', 'amp=true', 'train.steps=6', 'train.checkpoint_every=1']
    with pytest.raises(KeyboardInterrupt):
        train(InterruptedToyDepth, small_config(run_dir, *overrides), run_dir)
    state = checkpoint.load(run_dir)
    assert state['step'] == 3 and state['scaler']['scale'] > 0 and state['rng'][0]['cuda']
    train(ToyDepthTask, small_config(run_dir, *overrides, 'run.resume=auto'), run_dir)
    state = checkpoint.load(run_dir)
    assert state['step'] == 6
    assert all(torch.isfinite(value).all() for value in state['model'].values())


# --- export and eval --------------------------------------------------------------------

def test_export_round_trip_and_tampering(trained_run, tmp_path):
    """Exported weights load back equal; a changed byte or a bad manifest is refused."""
    weights = tmp_path / 'out' / 'weights.safetensors'
    manifest = export_checkpoint(trained_run, weights)
    assert manifest_path(weights) == tmp_path / 'out' / 'weights.json'
    state_dict, loaded = load_exported(weights)
    assert loaded == manifest
    assert loaded['architecture'] == 'ToyDepthNet' and loaded['model_kwargs'] == {'channels': 8}
    assert loaded['step'] == 6 and loaded['metrics'] is None
    assert loaded['data']['train_frames'] == [0, 1, 2, 3, 5, 6, 7, 8]
    assert len(loaded['weights_sha256']) == 64 and loaded['code_revision']
    assert_same_weights(state_dict, final_weights(trained_run))
    model, _ = build_exported(weights)
    assert sum(p.numel() for p in model.parameters()) < 10000

    good_manifest = manifest_path(weights).read_text()
    manifest_path(weights).write_text(json.dumps({**manifest, 'architecture': 'Nope'}))
    with pytest.raises(ExportError, match="unknown architecture 'Nope'"):
        load_exported(weights)
    manifest_path(weights).write_text(json.dumps({k: v for k, v in manifest.items()
                                                  if k != 'weights_sha256'}))
    with pytest.raises(ExportError, match='lacks weights_sha256'):
        load_exported(weights)
    manifest_path(weights).write_text(good_manifest)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ExportError, match='does not match the manifest'):
        load_exported(weights)


@pytest.mark.skipif(importlib.util.find_spec('training.metrics') is None,
                    reason='training.metrics not written yet')
def test_eval_writes_metrics_and_plots_then_export_carries_them(trained_run, tmp_path):
    """Eval writes metrics.json and PNGs; export takes metrics of its own checkpoint only."""
    out = tmp_path / 'eval'
    assert main(['eval', '--checkpoint', str(trained_run), '--out', str(out)]) == 0
    report = json.loads((out / 'metrics.json').read_text())
    assert report['task'] == 'toy-depth' and report['source']['step'] == 6
    assert report['data']['eval_frames'] == [4, 9]
    metrics = report['metrics']
    assert {'rmse', 'mae', 'abs_rel', 'delta1'} <= metrics.keys()
    assert 0 < metrics['mae'] <= metrics['rmse'] < 3 and metrics['count'] == 2 * 32 * 24
    for name in ('predictions.png', 'depth_scatter.png'):
        assert (out / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    weights = tmp_path / 'weights.safetensors'
    assert main(['export', '--checkpoint', str(trained_run), '--out', str(weights),
                 '--metrics', str(out / 'metrics.json')]) == 0
    assert load_exported(weights)[1]['metrics'] == metrics
    report_from_weights = evaluate(tmp_path / 'eval2', weights_path=weights)
    assert report_from_weights['metrics'] == metrics
    with pytest.raises(ExportError, match='was not computed on checkpoint'):
        export_checkpoint(checkpoint.step_path(trained_run, 5), tmp_path / 'w5.safetensors',
                          out / 'metrics.json')


# --- command line -----------------------------------------------------------------------

@pytest.mark.parametrize('argv, message', [
    (['toy-depth', '--config', 'missing.yaml'], 'config file not found: missing.yaml'),
    (['toy-depth', 'train.steps'], "override 'train.steps' is not of the form"),
    (['toy-depth', 'optim.learning_rate=0.1'], 'unknown config key: optim.learning_rate'),
    (['toy-depth', '--resume', 'device=cpu'], 'nothing to resume'),
    (['eval', '--checkpoint', 'nowhere.pt', '--out', 'x'], 'checkpoint not found: nowhere.pt'),
    (['export', '--checkpoint', '.', '--out', 'w.safetensors'], 'has no latest.pt'),
])
def test_cli_errors_exit_nonzero_with_message(argv, message, tmp_path, monkeypatch, capsys):
    """Configuration and usage errors exit with 2 and a one-line message naming the cause."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith('training: error:') and message in err
    assert not (tmp_path / 'runs').exists()


def test_cli_rejects_unknown_task(capsys):
    """An unregistered task is an argparse usage error listing the commands."""
    with pytest.raises(SystemExit) as exit_info:
        main(['pose-magic'])
    assert exit_info.value.code == 2
    assert 'toy-depth' in capsys.readouterr().err
    assert 'toy-depth' in TASKS


def test_synth_delegates_and_reports_missing_module(monkeypatch, capsys):
    """`synth` builds its options with training.synth.cli and runs it, or explains its lack."""
    monkeypatch.setitem(sys.modules, 'training.synth.cli', None)
    assert main(['synth', '--count', '3']) == 2
    assert 'cannot import training.synth.cli' in capsys.readouterr().err

    seen = []
    fake = types.ModuleType('training.synth.cli')
    fake.add_arguments = lambda parser: parser.add_argument('--count', type=int)
    fake.run = seen.append
    monkeypatch.setitem(sys.modules, 'training.synth.cli', fake)
    assert main(['synth', '--count', '3']) == 0
    assert [args.count for args in seen] == [3]


# --- multi-process ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ddp_two_processes_on_cpu(tmp_path):
    """Two CPU processes under torchrun (gloo): both ranks train, only rank 0 writes."""
    run_dir = tmp_path / 'run'
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
         '-m', 'training', 'toy-depth', '--run-dir', str(run_dir), *SMALL, 'train.steps=4',
         'train.batch_size=2', 'train.checkpoint_every=2'],
        cwd=tmp_path, env=training_env(), capture_output=True, text=True, timeout=200)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        assert f'[rank {rank}/2] toy-depth: steps 1..4, 8 samples' in result.stdout
    assert result.stdout.count('checkpoint: ') == 2  # steps 2 and 4, from rank 0 only
    state = checkpoint.load(run_dir)
    assert state['step'] == 4 and state['world_size'] == 2 and len(state['rng']) == 2
    assert not torch.equal(state['rng'][0]['torch'], state['rng'][1]['torch'])
    assert list(log_losses(run_dir)) == [1, 2, 3, 4]
    assert sorted(p.name for p in run_dir.rglob('*')) == [
        'checkpoints', 'config.yaml', 'latest.pt', 'log.csv', 'step_000002.pt',
        'step_000004.pt']
