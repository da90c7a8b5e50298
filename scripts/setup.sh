#!/usr/bin/env bash
# Sets up what the app and its tests need on a fresh Debian machine; safe to run again.
#   scripts/setup.sh app    -> .venv with the app's requirements
#   scripts/setup.sh test   -> the above plus test tools, Debian's chromium and the MNIST cache
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-app}
PY=${PYTHON:-python3}

reqs=requirements.txt
[ "$what" = test ] && reqs=requirements-dev.txt
stamp=".venv/.installed-$(basename "$reqs" .txt)"
if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$reqs" -nt "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
  echo "==> Installing $reqs"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$reqs"
  touch "$stamp"
fi

if [ "$what" = test ]; then
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "==> Installing Debian's chromium for the browser tests"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "!! /usr/bin/chromium is missing: install Debian's 'chromium' package (as root)" \
        "for the browser tests" >&2
    fi
  fi
  echo "==> Making sure MNIST is cached and verified"
  .venv/bin/python -m core.data
fi
