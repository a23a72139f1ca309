#!/usr/bin/env bash
# The main job: install what is needed, then run `umbra` (default: the demo marketplace).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ $# -eq 0 ]; then set -- demo; fi
exec .venv/bin/umbra "$@"
