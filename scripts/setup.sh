#!/usr/bin/env bash
# Set up s2ld in a virtualenv inside the repo (.venv), idempotently.
#
#   bash scripts/setup.sh                 # library, notebooks, app, dev tools
#   bash scripts/setup.sh --with-browser  # also Debian's chromium for the real-browser tests
#
# Torch: on a machine without an NVIDIA GPU we install the CPU build (torch==2.13.0, which pip finds
# locally on the project's machines) so that no multi-GB CUDA build is ever pulled. GPU users install
# their CUDA build into .venv first (see README); this script then leaves it alone.
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --with-browser)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[setup] NVIDIA GPU found: installing the default (CUDA) torch build"
    pip install "torch>=2.1"
  else
    echo "[setup] no GPU: installing the CPU build torch==${S2LD_TORCH_VERSION:-2.13.0}"
    pip install "torch==${S2LD_TORCH_VERSION:-2.13.0}" ${S2LD_TORCH_INDEX:+--index-url "$S2LD_TORCH_INDEX"}
  fi
fi

if ! .venv/bin/python -c "import s2ld_core, gradio, papermill, pytest, onnxruntime" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.s2ld-installed ]; then
  echo "[setup] installing s2ld with extras [notebooks,app,dev,fast,faces,teacher]"
  pip install -e ".[notebooks,app,dev,fast,faces,teacher]"
  touch .venv/.s2ld-installed
fi
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true

if [ "$with_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "[setup] chromium missing and cannot apt-get here: the browser tests will be skipped" >&2
  fi
fi
echo "[setup] ready: $(.venv/bin/python -c 'import torch, s2ld_core; print("s2ld", s2ld_core.__version__, "torch", torch.__version__)')"
