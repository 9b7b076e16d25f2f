"""
How a checkpoint was made: the commands, the code they ran and the weights they started from.

A training run records, when it starts or resumes, one invocation (its ``python -m training``
command line, the code revision and whether the working tree differed from it) and, when it
starts, the sha256 of every initial weight file its config names: each non-null value of the
config's ``pretrained`` section (e.g. backbone_weights, pose's init_weights).  Checkpoints
carry that record (``provenance``) to ``export``, which adds its own invocation to the
manifest.  Facts that cannot be recovered are recorded as UNKNOWN, never guessed.
"""

from pathlib import Path
import shlex
import subprocess

from rgbd_perception.runtime.weights import file_sha256, UNKNOWN

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The command prefix of a training package command line.
PROGRAM = ('python', '-m', 'training')
#: The provenance of a checkpoint written before provenance was recorded.
UNRECORDED = {'training': [UNKNOWN], 'init_weights': UNKNOWN}


def _git(*args):
    """Return the stdout of ``git args`` in REPO_ROOT, or None when git fails."""
    try:
        result = subprocess.run(['git', *args], cwd=REPO_ROOT, text=True, capture_output=True,
                                timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def code_revision():
    """Return `git rev-parse HEAD` of the repository holding this code, or UNKNOWN."""
    revision = _git('rev-parse', 'HEAD')
    return revision.strip() if revision else UNKNOWN


def code_dirty():
    """Return whether `git status --porcelain` lists changes (bool), or UNKNOWN without git."""
    status = _git('status', '--porcelain')
    return UNKNOWN if status is None else bool(status.strip())


def invocation(argv):
    """
    Return {'command', 'code_revision', 'code_dirty'} of a command run now.

    argv: the ``python -m training`` arguments (command: PROGRAM plus them, shell-quoted, so
    shlex.split gives the argv back), or None for a call from Python (command: None).
    """
    command = None if argv is None else shlex.join([*PROGRAM, *argv])
    return {'command': command, 'code_revision': code_revision(), 'code_dirty': code_dirty()}


def initial_weights(config, sha256=file_sha256):
    """Return {'pretrained.KEY': {'path', 'sha256': sha256(path)}} of the initial weights."""
    return {f'pretrained.{key}': {'path': str(path), 'sha256': sha256(path)}
            for key, path in config.get('pretrained', {}).items() if path}


def training_provenance(previous, config, argv, start_step):
    """
    Return the provenance a checkpoint records for a run starting or resuming at start_step.

    previous: the resumed checkpoint's provenance (None when starting, or resuming a
    checkpoint written before provenance was recorded: its earlier runs are one UNKNOWN).
    Returns {'training': [invocation with 'from_step', ...], 'init_weights': ...}.
    """
    if previous is None:
        previous = ({'training': [], 'init_weights': initial_weights(config)}
                    if start_step == 0 else UNRECORDED)
    return {'training': [*previous['training'], {**invocation(argv), 'from_step': start_step}],
            'init_weights': previous['init_weights']}
