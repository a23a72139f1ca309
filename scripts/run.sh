#!/usr/bin/env bash
# The main job: install what it needs, then run `umbra` (default: the demo marketplace).
# `bash scripts/run.sh app` also installs the desktop window's parts (see bootstrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then set -- demo; fi
if [ "$1" = app ]; then bash scripts/bootstrap.sh window; else bash scripts/bootstrap.sh run; fi
exec .venv/bin/umbra "$@"
