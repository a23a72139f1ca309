#!/usr/bin/env bash
# Install what one kind of use needs into ./.venv (idempotent; pip runs only when pyproject
# changes or more is wanted). Usage: bash scripts/bootstrap.sh [run|window|test]
#   run     the main job (scripts/run.sh): Debian's monero and tor (Umbra runs its own tor;
#           tor-gencert, in the same package, makes the test network's authority keys);
#           Umbra and its runtime packages.
#   window  run + a desktop window for `umbra app`: Debian's python3-gi and
#           gir1.2-webkit2-4.1 (GTK + WebKit), made visible to .venv, and pywebview.
#   test    window + what only the tests use (scripts/test.sh): Debian's chromium (UI tests),
#           ipfs-cid (a CID cross-check), iproute2 (network-namespace tests), xvfb (the
#           window test's display), npm (the IPFS interop test); the dev and bench extras
#           (pytest, ruff, mypy, playwright, libtorrent, …); and from npm, the pinned Helia
#           packages with Node 22 (tests/interop/helia, into .venv/interop/).
# As root, missing Debian packages are installed; otherwise it prints what to install.
# Sizes (measured 2026-12, Debian 12, Python 3.11) are in README.md ("What the commands need").
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Umbra needs Python 3.11 or newer ($PY is older or missing)." >&2
  exit 1
fi

# Debian packages and pip extras per mode; each mode includes the one before.
need_apt=()
extras=()
command -v monerod >/dev/null 2>&1 || need_apt+=(monero)
command -v tor >/dev/null 2>&1 || need_apt+=(tor)
case "$mode" in
  run) ;;
  window|test)
    [ -f /usr/lib/python3/dist-packages/gi/__init__.py ] || need_apt+=(python3-gi)
    ls /usr/lib/*/girepository-1.0/WebKit2-4.1.typelib >/dev/null 2>&1 \
      || need_apt+=(gir1.2-webkit2-4.1)
    extras+=(window)
    if [ "$mode" = test ]; then
      command -v ipfs_cid >/dev/null 2>&1 || need_apt+=(ipfs-cid)
      [ -x /usr/bin/chromium ] || need_apt+=(chromium)   # the UI tests drive Debian's Chromium
      command -v tc >/dev/null 2>&1 || need_apt+=(iproute2)  # netns + netem network tests
      command -v Xvfb >/dev/null 2>&1 || need_apt+=(xvfb)    # the window test's display
      command -v npm >/dev/null 2>&1 || need_apt+=(npm)      # Helia, the IPFS interop test
      extras+=(dev bench)
    fi
    ;;
  *) echo "usage: bash scripts/bootstrap.sh [run|window|test]" >&2; exit 2 ;;
esac
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

# The stamp holds the pyproject hash and the extras installed with it. More extras wanted
# (run.sh, then test.sh) installs the union; fewer (test.sh, then run.sh) installs nothing;
# a changed pyproject reinstalls the union, so a later run.sh never drops the dev tools.
stamp=.venv/.umbra-installed
want_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
have_hash=""
have_extras=""
if [ -f "$stamp" ]; then read -r have_hash have_extras < "$stamp" || true; fi
all_extras=$(printf '%s\n' "${extras[@]}" ${have_extras//,/ } | sed '/^$/d' | sort -u | paste -sd, -)
if [ "$have_hash" != "$want_hash" ] || [ "$all_extras" != "$have_extras" ]; then
  echo "Installing Python packages into .venv (first run takes a minute)..." >&2
  # sqlcipher3-binary (used before) and sqlcipher3-wheels both install the `sqlcipher3`
  # package: remove both so the wanted one is installed whole, not over the other's files.
  if .venv/bin/python -m pip show -q sqlcipher3-binary >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -y -q sqlcipher3-binary sqlcipher3-wheels >/dev/null 2>&1
  fi
  target=.
  [ -z "$all_extras" ] || target=".[$all_extras]"
  if ! .venv/bin/python -m pip install --disable-pip-version-check -e "$target" \
      > .venv/pip-install.log 2>&1; then
    grep -v "is ignored" .venv/pip-install.log | tail -n 30 >&2
    echo "pip install failed; full log in .venv/pip-install.log" >&2
    exit 1
  fi
  .venv/bin/python -c 'import umbra.cli' # fail loudly if the install did not work
  echo "$want_hash $all_extras" > "$stamp"
fi

# PyGObject has no wheels on PyPI (it builds against the system's GTK), so the window uses
# Debian's python3-gi: only its `gi` package is made visible to .venv (not the rest of
# dist-packages), and only when it was built for the venv's Python.
if [[ ",$all_extras," == *",window,"* ]]; then
  gi_src=/usr/lib/python3/dist-packages/gi
  gi_dir=.venv/debian-gi
  suffix=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  if compgen -G "$gi_src/_gi$suffix" >/dev/null; then
    mkdir -p "$gi_dir"
    ln -sfn "$gi_src" "$gi_dir/gi"
    echo "$(pwd)/$gi_dir" > "$site/umbra-debian-gi.pth"
  else
    rm -f "$site/umbra-debian-gi.pth"
    echo "No window for \`umbra app\` (it opens the browser): Debian's python3-gi is missing" \
      "or not built for $(.venv/bin/python -V)." >&2
  fi
fi

# The IPFS interop test (tests/integration/net/test_bitswap_ipfs.py) runs Helia on npm's
# Node 22: install the pinned packages once per lock (a no-op when they are there). Without
# npm or the npm registry this says why and goes on; the test then skips (no npm) or fails
# with npm's error (no registry).
if [ "$mode" = test ]; then
  if ! bash tests/interop/helia/install.sh .venv/interop >/dev/null; then
    echo "The Helia test packages are not installed (see above); the IPFS interop test" \
      "will say why." >&2
  fi
fi
