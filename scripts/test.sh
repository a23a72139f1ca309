#!/usr/bin/env bash
# The tests: install what is needed, lint, type-check, then every test tier.
# Tiers (all run here): unit, monero (real monerod/wallet-rpc), network (real node processes).
# Extra pytest arguments pass through, e.g. `bash scripts/test.sh -m "not monero"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
echo "== ruff" && .venv/bin/ruff check umbra tests bench && .venv/bin/ruff format --check umbra tests bench
echo "== mypy" && .venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider --durations=20 "$@"
