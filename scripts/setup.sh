#!/usr/bin/env bash
# Sets up what the app and its tests need on a fresh Debian machine; safe to run again.
#   scripts/setup.sh app    -> .venv with the app's requirements
#   scripts/setup.sh test   -> the above plus test tools, Ray (requirements-ray.txt), Debian's
#                              chromium and the MNIST cache
#   scripts/setup.sh bench  -> the above plus PyTorch (CPU, the reference) and the fonts of
#                              bench/drawset.py
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-app}
PY=${PYTHON:-python3}

reqs=requirements.txt
[ "$what" = test ] && reqs=requirements-dev.txt
[ "$what" = bench ] && reqs=requirements-bench.txt
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

apt_install() {  # Debian packages, when we may install them
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "!! please install these Debian packages (as root): $*" >&2
  fi
}

if [ "$what" = bench ]; then
  "$0" test
  fonts="fonts-comic-neue fonts-dkg-handwriting fonts-breip fonts-bwht fonts-dancingscript
    fonts-humor-sans fonts-kaushanscript fonts-klee fonts-kristi fonts-rufscript fonts-sjfonts
    fonts-tomsontalks fonts-yusei-magic fonts-urw-base35 fonts-sil-andika fonts-cabin
    fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-opendyslexic"
  missing=$(for f in $fonts; do dpkg -s "$f" >/dev/null 2>&1 || echo "$f"; done)
  if [ -n "$missing" ]; then
    echo "==> Installing the handwriting fonts of bench/drawset.py"
    # shellcheck disable=SC2086
    apt_install $missing
  fi
fi

if [ "$what" = test ]; then
  ray_stamp=.venv/.installed-requirements-ray
  if [ ! -f "$ray_stamp" ] || [ requirements-ray.txt -nt "$ray_stamp" ]; then
    echo "==> Installing requirements-ray.txt (the Ray backend's contract tests)"
    .venv/bin/python -m pip install -q -r requirements-ray.txt
    touch "$ray_stamp"
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "==> Installing Debian's chromium for the browser tests"
    apt_install chromium
  fi
  if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    # The browser tests render the Chinese pages (and their screenshots): a CJK font, or boxes.
    echo "==> Installing a Chinese font for the browser tests"
    apt_install fonts-wqy-microhei
  fi
  echo "==> Making sure MNIST is cached and verified"
  .venv/bin/python -m core.data
fi
