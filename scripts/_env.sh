# Shared by scripts/*: the project's virtual environment and ROS settings (source, don't run).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3

ensure_venv() {
  # Create .venv and install the pinned requirements; a no-op when the stamp matches.
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    return 0
  fi
  echo "[setup] creating $VENV (pinned requirements; first run downloads PyTorch, a few GB)"
  "$PYTHON_BIN" -m venv "$VENV"
  touch "$VENV/COLCON_IGNORE"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip==26.3
  "$VENV/bin/python" -m pip install --quiet \
    -r "$ROOT/requirements/runtime.txt" \
    -r "$ROOT/requirements/ros-kilted.txt" \
    -r "$ROOT/requirements/training.txt" \
    -r "$ROOT/requirements/dev.txt"
  "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"
  echo "$want" > "$stamp"
}

activate_venv() {
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
  # venv mode: the project's Fast DDS profile (shared memory, large images) and local discovery.
  export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$ROOT/rgbd_perception/ros/fastdds_profile.xml}"
  export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
}

command_line() {
  # NAME... -- WORD...: the words shell-quoted, after NAME=value of each NAME that is set
  # (the recipe a training script records in its manifest).
  local words=()
  while [ "$1" != -- ]; do
    [ -n "${!1:-}" ] && words+=("$1=${!1}")
    shift
  done
  shift
  words+=("$@")
  local quoted
  quoted=$(printf '%q ' "${words[@]}")
  echo "${quoted% }"
}
