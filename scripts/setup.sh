#!/usr/bin/env bash
# Idempotent setup for Carve on Debian 12 (run as root, or with sudo available).
#  1. Debian packages the app and the tests need (skipped when already installed).
#  2. .venv with torch==2.13.0 (libtorch for tch 0.26) and the Python packages tools/ and tests use
#     (skipped when tools/requirements.txt has not changed since the last successful install), then
#     sam2 (a source distribution built against that torch; skipped when installed at the pinned version).
#  3. Rust via rustup when no cargo is found (the project needs Rust >= 1.90).
#  4. .venv/libtorch -> the wheel's torch folder, which .cargo/config.toml points LIBTORCH at.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential pkg-config python3 python3-venv python3-dev curl ca-certificates git
  mesa-vulkan-drivers libvulkan1 vulkan-tools
  xvfb xauth x11-utils x11-apps xdotool libxcursor1 libxi6 libxrandr2 libx11-xcb1 libxkbcommon-x11-0 libxkbcommon0
  libwayland-client0 libegl1 libgl1 fonts-dejavu-core
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "setup: installing Rust (rustup, stable, minimal + clippy + rustfmt)" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy -c rustfmt
fi

stamp=.venv/.carve-requirements
want=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv (torch==2.13.0 is a large download, a few minutes)" >&2
  PY=${PYTHON:-python3}
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r tools/requirements.txt
  echo "$want" > "$stamp"
fi

# SAM 2.1 (tools/export_sam2.py, tools/sam2_reference.py): the PyPI `sam2` is a source distribution
# that compiles against the installed torch, so it is installed after requirements.txt, without
# build isolation and without its optional CUDA extension. Redone when the pins change or when sam2
# is missing (e.g. after the .venv was recreated).
SAM2_PACKAGES="sam2==1.1.0 hydra-core==1.3.8 iopath==0.1.10"
sam2_stamp=.venv/.carve-sam2
if [ ! -f "$sam2_stamp" ] || [ "$(cat "$sam2_stamp")" != "$SAM2_PACKAGES" ] \
  || ! .venv/bin/python -c 'import sam2' >/dev/null 2>&1; then
  echo "setup: installing $SAM2_PACKAGES into .venv" >&2
  # shellcheck disable=SC2086
  SAM2_BUILD_CUDA=0 .venv/bin/python -m pip install -q --no-build-isolation $SAM2_PACKAGES
  echo "$SAM2_PACKAGES" > "$sam2_stamp"
fi

# Node.js for the Khronos glTF-Validator used by the tests (npm `gltf-validator`, in .venv/node).
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -f .venv/node/node_modules/gltf-validator/package.json ]; then
  echo "setup: installing gltf-validator (npm)" >&2
  mkdir -p .venv/node
  [ -f .venv/node/package.json ] || echo '{"name": "carve-test-tools", "private": true}' > .venv/node/package.json
  (cd .venv/node && npm install --silent --no-audit --no-fund gltf-validator@2.0.0-dev.3.10 >/dev/null)
fi

torch_dir=$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')
if [ "$(readlink .venv/libtorch 2>/dev/null || true)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" .venv/libtorch
fi
echo "setup: ok (libtorch $(.venv/bin/python -c 'import torch; print(torch.__version__)') at .venv/libtorch)" >&2
