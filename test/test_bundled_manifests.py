"""
The bundled weights' manifests: format 2, intact, and their recipes reproduce their configs.

Each manifest's ``provenance.recipe`` is a scripts/train_* command line.  Resolved the way that
script resolves it (the task's defaults, the per-set config file it passes, its key=value
arguments), today's config must equal the one the weights were trained with: the same steps,
data renders (the scripts render data.generated_by with `python -m training data`), seeds and
losses.  Only keys added to the configs since may be missing from a manifest, each listed in
ADDED_SINCE with why its default keeps the old behaviour.
"""

import hashlib
import json
from pathlib import Path
import re
import shlex

import pytest

from rgbd_perception.runtime.weights import FORMAT_VERSION, load_exported, settings_sha256
from training.framework.config import default_config, flatten, merge_stored, resolve_config
from training.synth.cli import generated_by_commands

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / 'rgbd_perception' / 'weights'
BUNDLED = sorted(path.with_suffix('.safetensors') for path in WEIGHTS.glob('*.json'))
#: Config keys added after a bundled file was trained: (task config, key) -> why it is safe.
ADDED_SINCE = {
    ('pose.yaml', 'data.eval_hypotheses'): 'evaluation only (ICP starts of the scored stage)',
    ('completion.yaml', 'model.scale_quantile'): '1.0 is the largest depth, the old scale',
    ('completion.yaml', 'augment.vertical_flip'): '0.0: no up-down flip and no number drawn '
                                                  'for it (training/completion/randomise.py)',
    ('pose.yaml', 'data.train_weights'): '[]: no mix, the sampler shuffles every crop as before',
    ('completion.yaml', 'data.train_weights'): '[]: no mix, the sampler shuffles every frame as '
                                               'before',
    ('pose.yaml', 'model.backbone'): 'resnet18: the trunk and parameter names as before',
    ('pose.yaml', 'model.input_scaling'): 'null without backbone weights: imagenet, as before',
    ('pose.yaml', 'pretrained.backbone_weights'): 'null: the trunk starts random, as before',
    ('pose.yaml', 'finetune.freeze_backbone'): 'false: the trunk trains, as before',
    ('pose.yaml', 'model.mask_head'): 'false: no mask head, as before',
    ('pose.yaml', 'finetune.freeze_batchnorm'): 'false: batch norm trains, as before',
    ('pose.yaml', 'loss.mask'): '0.0: no mask term, as before',
    ('pose.yaml', 'data.eval_segment_boxes'): "true: only the 'boxes' rows (added after these "
                                              'weights) use it; recorded rows unchanged',
    ('completion.yaml', 'model.rgb_backbone'): "null: the size's encoder and parameter names",
    ('completion.yaml', 'model.input_scaling'): 'null without backbone weights: imagenet, as '
                                                'before',
    ('completion.yaml', 'pretrained.backbone_weights'): 'null: the encoder starts random, as '
                                                        'rgb_weights null did',
    ('completion.yaml', 'finetune.freeze_backbone'): 'only freezes backbone_weights: a random '
                                                     'encoder trains, as before',
    ('completion.yaml', 'pretrained.init_weights'): 'null: no exported weights loaded, as before',
    ('pose.yaml', 'pretrained.simsiam_weights'): 'null: no SimSiam trunk loaded, as before',
}


def recipe_config(recipe):
    """Return (script, today's resolved config of a recipe, its task config name)."""
    words = shlex.split(recipe)
    env = {}
    while re.fullmatch(r'[A-Z_]+=.*', words[0]):  # NAME=value before the script
        name, value = words.pop(0).split('=', 1)
        env[name] = value
    script, *args = words
    run_name = env.get('RUN_NAME', 'bundled')
    if script == 'scripts/train_pose':
        set_name, *overrides = args
        config_file = ROOT / env.get('CONFIG', f'training/configs/pose_{set_name}.yaml')
        selfsup = f'runs/pose-selfsup/{set_name}-{run_name}'
        init = ([] if env.get('SELFSUP_STEPS') == '0' else
                [f'pretrained.init_weights={selfsup}/pose_selfsup_{set_name}.safetensors'])
        overrides = [f'run.dir=runs/pose/{set_name}-{run_name}', 'run.resume=auto', *init,
                     *overrides]
        task_config = 'pose.yaml'
    elif script == 'scripts/train_mono_depth':
        config_file = None
        overrides = [f'run.dir=runs/mono_depth/{run_name}', 'run.resume=auto', *args]
        task_config = 'mono_depth.yaml'
    else:
        assert script == 'scripts/train_completion', recipe
        config_file = None
        overrides = [f'run.dir=runs/completion/{run_name}', 'run.resume=auto', *args]
        task_config = 'completion.yaml'
    return script, resolve_config(default_config(task_config), config_file, overrides), \
        task_config


@pytest.fixture(scope='module', params=BUNDLED, ids=lambda path: path.stem)
def bundled(request):
    """Return (weights path, validated manifest) of one bundled file."""
    return request.param, load_exported(request.param)[1]


def test_bundled_manifests_are_format_2_and_intact(bundled):
    """Every bundled manifest carries the provenance fields and its settings hash verifies."""
    weights, manifest = bundled
    assert manifest['format_version'] == FORMAT_VERSION
    assert manifest['settings_sha256'] == settings_sha256(manifest)
    assert manifest['weights_file'] == weights.name
    provenance = manifest['provenance']
    init = provenance['init_weights']
    assert set(init) == {f'pretrained.{key}' for key, value in
                         manifest['config'].get('pretrained', {}).items() if value}
    if 'upgraded_by' in provenance:  # exported as format 1: not recorded, so unknown, not guessed
        assert manifest['code_dirty'] == 'unknown' and provenance['training'] == ['unknown']
        assert all(entry['sha256'] == 'unknown' for entry in init.values())
        return
    assert isinstance(manifest['code_dirty'], bool)  # exported as format 2: all recorded
    assert [run['command'].split()[:4] for run in provenance['training']] == [
        ['python', '-m', 'training', manifest['task']]]
    for entry in init.values():
        path = ROOT / entry['path']
        if path.is_file():
            assert entry['sha256'] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_bundled_recipes_reproduce_the_configs(bundled):
    """Today's scripts/train_* resolve the recorded config: steps, data renders, seeds, losses."""
    _, manifest = bundled
    script, config, task_config = recipe_config(manifest['provenance']['recipe'])
    assert config['train']['steps'] == manifest['config']['train']['steps'] == manifest['step']
    assert config['data']['generated_by'] == manifest['config']['data']['generated_by']
    assert generated_by_commands(config['data']['generated_by'])  # what `data` renders
    # run.resume only says whether a run may continue its own checkpoints: the scripts
    # set auto; a run started by hand with the same settings records never.
    recorded, today = flatten(manifest['config']), flatten(config)
    recorded.pop('run.resume', None)
    today.pop('run.resume')
    assert {key: today.get(key) for key in recorded} == recorded
    assert {(task_config, key) for key in today.keys() - recorded.keys()} <= ADDED_SINCE.keys()
    merge_stored(default_config(task_config), manifest['config'])  # as eval and runtime read it
    text = (ROOT / script).read_text()
    assert f'python -m training data {manifest["task"]}' in text


def test_bundled_pose_steps_come_from_the_per_set_config_files():
    """The demo trained 2000 pose steps, LM-O 3000: the files scripts/train_pose passes."""
    steps = {name: resolve_config(default_config('pose.yaml'),
                                  ROOT / 'training' / 'configs' / f'pose_{name}.yaml')
             ['train']['steps'] for name in ('demo', 'lmo')}
    assert steps == {'demo': 2000, 'lmo': 3000}
    assert '--config "${CONFIG:-training/configs/pose_$set_name.yaml}"' in (
        ROOT / 'scripts' / 'train_pose').read_text()


def test_bundled_completion_runtime_block_written_by_the_command():
    """runtime.downsample 10 came from `python -m training runtime`, as the script runs it."""
    _, manifest = load_exported(WEIGHTS / 'depth_completion_small.safetensors')
    runtime = manifest['runtime']
    assert runtime['downsample'] == 10
    assert shlex.split(runtime['written_by']['command'])[3:4] == ['runtime']
    assert {json.dumps(evaluation['settings'], sort_keys=True)
            for evaluation in runtime['evaluations']} >= {json.dumps(
                {'data.downsample': 10, 'data.real_repeats': 12}, sort_keys=True)}
    text = (ROOT / 'scripts' / 'train_completion').read_text()
    assert 'python -m training runtime --weights "$weights" --downsample 10' in text
