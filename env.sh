# Source me from bash: `. ./env.sh` gives this shell the whole environment of the stack:
# the virtualenv (ROS 2 Jazzy from PyPI and the Python libraries) and the built workspace.

_grasp_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"

if [ ! -x "$_grasp_root/.venv/bin/python" ]; then
    echo "env.sh: no .venv yet; run 'make env' (or 'make build') first" >&2
    return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
. "$_grasp_root/.venv/bin/activate"

# ament finds the message packages and typesupports of the wheels through these.
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"

# Discovery stays on this machine unless the caller chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"

if [ -f "$_grasp_root/ros2_ws/install/setup.bash" ]; then
    # shellcheck disable=SC1091
    . "$_grasp_root/ros2_ws/install/setup.bash"
fi
unset _grasp_root
