"""Training framework: config, atomic checkpoints, resume, export, eval, CLI, DDP (toy-depth)."""

import csv
import hashlib
import importlib.util
import json
import os
from pathlib import Path
import random
import shlex
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import torch

from rgbd_perception.runtime.weights import file_sha256, PROVENANCE_KEYS, settings_sha256
from rgbd_perception.stages.completion import manifest_downsample
from training.cli import main
from training.framework import checkpoint
from training.framework.config import ConfigError, default_config, resolve_config, with_defaults
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


# --- provenance, settings hash, runtime settings, upgrade ---------------------------------

def export_toy(tmp_path, *extra):
    """Train 2 toy-depth steps and export them through the CLI; return (weights, argv)."""
    argv = ['toy-depth', '--run-dir', str(tmp_path / 'run'), *SMALL, 'train.steps=2']
    assert main(argv) == 0
    weights = tmp_path / 'toy weights.safetensors'
    assert main(['export', '--checkpoint', str(tmp_path / 'run'), '--out', str(weights),
                 *extra]) == 0
    return weights, argv


def test_export_records_commands_code_state_and_settings_hash(tmp_path):
    """The manifest holds the training and export command lines, the code state, the recipe."""
    weights, argv = export_toy(tmp_path, '--recipe', 'scripts/train_toy fast')
    _, manifest = load_exported(weights)
    assert manifest['format_version'] == 2
    provenance = manifest['provenance']
    assert provenance['recipe'] == 'scripts/train_toy fast'
    [run] = provenance['training']
    assert shlex.split(run['command']) == ['python', '-m', 'training', *argv]
    assert run['from_step'] == 0 and run['code_revision'] == manifest['code_revision']
    assert isinstance(run['code_dirty'], bool) and isinstance(manifest['code_dirty'], bool)
    assert run['code_revision'] == subprocess.run(
        ['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert shlex.split(provenance['export'])[3:6] == ['export', '--checkpoint',
                                                      str(tmp_path / 'run')]
    assert provenance['init_weights'] == {}  # toy-depth names no initial weights
    assert manifest['settings_sha256'] == settings_sha256(manifest)
    assert manifest_path(weights).read_text().endswith('}\n')
    assert not list(tmp_path.glob('.*.tmp'))  # written through temporary files


def test_checkpoints_record_initial_weights_and_every_start(tmp_path):
    """Initial weights are hashed when a run starts; a resumed run adds its own command."""
    init = tmp_path / 'init.safetensors'
    init.write_bytes(b'initial weights')
    config = small_config(tmp_path / 'run', 'train.steps=6', 'train.checkpoint_every=1')
    config['pretrained'] = {'init_weights': str(init), 'backbone_weights': None}
    with pytest.raises(KeyboardInterrupt):
        train(InterruptedToyDepth, config, tmp_path / 'run', ['toy-depth', 'first'])
    init.write_bytes(b'changed after the start')
    config['run']['resume'] = 'required'
    train(ToyDepthTask, config, tmp_path / 'run', ['toy-depth', '--resume'])
    provenance = checkpoint.load(tmp_path / 'run')['provenance']
    assert provenance['init_weights'] == {'pretrained.init_weights': {
        'path': str(init), 'sha256': hashlib.sha256(b'initial weights').hexdigest()}}
    assert [(run['command'], run['from_step']) for run in provenance['training']] == [
        ('python -m training toy-depth first', 0), ('python -m training toy-depth --resume', 3)]
    manifest = export_checkpoint(tmp_path / 'run', tmp_path / 'w.safetensors')
    assert manifest['provenance']['init_weights'] == provenance['init_weights']
    assert manifest['provenance']['export'] is None  # called from Python, not a command


def test_edited_settings_are_refused_and_format_1_still_loads(tmp_path):
    """Any edit of a format 2 manifest but `created` breaks its settings_sha256."""
    weights, _ = export_toy(tmp_path)
    good = json.loads(manifest_path(weights).read_text())
    edits = [{'config': {**good['config'], 'seed': 1}}, {'runtime': {'downsample': 10}},
             {'metrics': {'rmse': 0.0}}, {'provenance': {**good['provenance'], 'recipe': 'x'}}]
    for edit in edits:
        manifest_path(weights).write_text(json.dumps({**good, **edit}))
        with pytest.raises(ExportError, match='settings_sha256 does not match'):
            load_exported(weights)
    manifest_path(weights).write_text(json.dumps({**good, 'created': 'later'}))
    assert load_exported(weights)[1]['created'] == 'later'
    manifest_path(weights).write_text(json.dumps(
        {k: v for k, v in good.items() if k != 'settings_sha256'}))
    with pytest.raises(ExportError, match='lacks settings_sha256'):
        load_exported(weights)
    manifest_path(weights).write_text(json.dumps({**good, 'format_version': 3}))
    with pytest.raises(ExportError, match='unknown format_version 3'):
        load_exported(weights)
    format_1 = {k: v for k, v in good.items() if k not in PROVENANCE_KEYS}
    manifest_path(weights).write_text(json.dumps({**format_1, 'format_version': 1}))
    assert load_exported(weights)[1]['format_version'] == 1


def test_runtime_command_writes_the_block_and_rehashes(tmp_path, capsys):
    """`runtime` sets runtime.* from eval reports of these very weights; the loader accepts it."""
    weights, _ = export_toy(tmp_path)
    before = load_exported(weights)[1]
    assert main(['eval', '--weights', str(weights), '--out', str(tmp_path / 'eval'),
                 'data.holdout_every=3']) == 0
    report = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    capsys.readouterr()
    assert main(['runtime', '--weights', str(weights), '--downsample', '3', '--chosen-by',
                 'a test', '--metrics', str(tmp_path / 'eval' / 'metrics.json')]) == 0
    assert 'runtime downsample 3' in capsys.readouterr().out
    _, manifest = load_exported(weights)
    runtime = manifest['runtime']
    assert runtime['downsample'] == 3 and runtime['chosen_by'] == 'a test'
    assert manifest_downsample(manifest) == 3  # what the completion stage runs at
    [evaluation] = runtime['evaluations']
    assert evaluation['settings'] == {'data.holdout_every': 3}
    assert evaluation['metrics'] == report['metrics']
    assert evaluation['source']['sha256'] == manifest['weights_sha256']
    assert shlex.split(runtime['written_by']['command'])[3:5] == ['runtime', '--weights']
    assert manifest['settings_sha256'] != before['settings_sha256']
    assert {k: v for k, v in manifest.items() if k not in ('runtime', 'settings_sha256')} == {
        k: v for k, v in before.items() if k != 'settings_sha256'}

    of_other_weights = tmp_path / 'other.json'
    of_other_weights.write_text(json.dumps({**report, 'source': {'sha256': '0' * 64}}))
    assert main(['runtime', '--weights', str(weights), '--downsample', '3', '--chosen-by', 'x',
                 '--metrics', str(of_other_weights)]) == 2
    assert 'was not computed on' in capsys.readouterr().err
    assert load_exported(weights)[1] == manifest  # left as it was


def test_upgrade_rewrites_a_format_1_manifest_without_the_weights(tmp_path, capsys):
    """`manifest --upgrade`: format 2 with the recipe; unrecorded facts become 'unknown'."""
    weights, _ = export_toy(tmp_path)
    sha256 = file_sha256(weights)
    current = json.loads(manifest_path(weights).read_text())
    format_1 = {**{k: v for k, v in current.items() if k not in PROVENANCE_KEYS},
                'format_version': 1, 'runtime': {'downsample': 10, 'chosen_by': 'by hand'},
                'config': {**current['config'], 'pretrained': {'init_weights': 'gone.st'}}}
    manifest_path(weights).write_text(json.dumps(format_1))
    assert main(['runtime', '--weights', str(weights), '--downsample', '2', '--chosen-by',
                 'x']) == 2
    assert 'upgrade it first' in capsys.readouterr().err
    assert main(['manifest', '--upgrade', str(weights), '--recipe', 'scripts/train_toy']) == 0
    assert 'runtime block (downsample 10) was dropped' in capsys.readouterr().out
    _, manifest = load_exported(weights)
    assert file_sha256(weights) == sha256 == manifest['weights_sha256']
    assert manifest['format_version'] == 2 and manifest['code_dirty'] == 'unknown'
    assert 'runtime' not in manifest
    provenance = manifest['provenance']
    assert provenance['recipe'] == 'scripts/train_toy'
    assert provenance['training'] == ['unknown'] and provenance['export'] == 'unknown'
    assert provenance['init_weights'] == {'pretrained.init_weights': {'path': 'gone.st',
                                                                      'sha256': 'unknown'}}
    assert shlex.split(provenance['upgraded_by']['command'])[3:5] == ['manifest', '--upgrade']
    kept = ('task', 'architecture', 'model_kwargs', 'data', 'metrics', 'step', 'code_revision',
            'created', 'weights_file')
    assert all(manifest[key] == format_1[key] for key in kept)
    assert main(['manifest', '--upgrade', str(weights), '--recipe', 'again']) == 2
    assert 'already of format 2' in capsys.readouterr().err


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


def test_a_config_stored_before_a_key_existed_takes_its_default():
    """A checkpoint's config without a key added since builds the task (export, eval)."""
    defaults = default_config(TASKS['pose'].config_name)
    stored = json.loads(json.dumps(defaults))
    del stored['data']['train_weights']
    stored['data']['train_dirs'] = ['old/folder']
    task = TASKS['pose'](stored)
    assert task.config['data']['train_weights'] == defaults['data']['train_weights']
    assert task.config['data']['train_dirs'] == ['old/folder']
    assert 'train_weights' not in stored['data']  # the stored config itself is not changed
    assert with_defaults({'a': {'b': 1}, 'extra': 2}, {'a': {'b': 0, 'c': 3}}) == \
        {'a': {'b': 1, 'c': 3}, 'extra': 2}
