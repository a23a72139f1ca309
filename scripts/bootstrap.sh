#!/usr/bin/env bash
# Install what Umbra needs into ./.venv (idempotent; re-runs pip only when pyproject changes).
# As root it also installs missing Debian packages: monero (monerod, wallet-rpc), ipfs-cid
# (a CID cross-check used by the tests), chromium (UI tests) and iproute2 (network-namespace
# tests). Without root it prints what to install instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Umbra needs Python 3.11 or newer ($PY is older or missing)." >&2
  exit 1
fi

need_apt=()
command -v monerod >/dev/null 2>&1 || need_apt+=(monero)
command -v ipfs_cid >/dev/null 2>&1 || need_apt+=(ipfs-cid)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)   # the UI tests drive Debian's Chromium
command -v tc >/dev/null 2>&1 || need_apt+=(iproute2)  # netns + netem network tests
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages: ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Optional: install ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})." >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.umbra-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing Python packages into .venv (first run takes a minute)..." >&2
  # sqlcipher3-binary (used before) and sqlcipher3-wheels both install the `sqlcipher3`
  # package: remove both so the wanted one is installed whole, not over the other's files.
  if .venv/bin/python -m pip show -q sqlcipher3-binary >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -y -q sqlcipher3-binary sqlcipher3-wheels >/dev/null 2>&1
  fi
  if ! .venv/bin/python -m pip install --disable-pip-version-check -e '.[dev,bench]' \
      > .venv/pip-install.log 2>&1; then
    grep -v "is ignored" .venv/pip-install.log | tail -n 30 >&2
    echo "pip install failed; full log in .venv/pip-install.log" >&2
    exit 1
  fi
  .venv/bin/python -c 'import umbra.cli' # fail loudly if the install did not work
  echo "$want" > "$stamp"
fi
