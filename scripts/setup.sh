#!/usr/bin/env bash
# Sets up everything viva needs on a fresh Debian machine with Python 3.11 and pip:
# system packages (espeak-ng for the emulated examiner's voice, PortAudio for local
# audio, Chromium and PulseAudio for the browser and desktop tests, Node for the YAML
# language server), uv, the locked Python environment in .venv and the locked npm
# packages in node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(espeak-ng portaudio19-dev chromium pulseaudio)
# Node and npm, for the YAML language server the config schema's tests run: Debian's, unless
# a node is already installed (from elsewhere: a second one would only shadow it).
{ command -v node && command -v npm; } >/dev/null || packages+=(nodejs npm)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages: ${missing[*]}" >&2
  fi
fi

command -v uv >/dev/null || python3 -m pip install --quiet uv
command -v uv >/dev/null || { hash -r; command -v pyenv >/dev/null && pyenv rehash; }
# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set, every `viva` process
# (each simulated session of the tests) would otherwise compile its imports again (~4 s of CPU).
uv sync --locked --compile-bytecode
uv run python -m compileall -q viva emulator bench >/dev/null
# The locked npm packages (package-lock.json) in node_modules; npm's own record of them,
# newer than the lock, means they are there already.
if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: done (uv $(uv --version | cut -d' ' -f2), $(uv run python --version), node $(node --version))"
