#!/usr/bin/env bash
# Sets up the project's virtual environment at .venv/ (idempotent).
#   ./setup.sh          runtime, training, conversion and demo dependencies
#   ./setup.sh --test   the same plus test tools and headless Chromium (Debian packages) for the web-view test
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
fi
extras="train,convert,demos"
if [ "${1:-}" = "--test" ]; then
    extras="$extras,dev"
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
            || echo "warning: could not install chromium; the web-view test will be skipped" >&2
    fi
fi
.venv/bin/python -m pip install -q -e ".[$extras]"
if [ "${1:-}" = "--test" ]; then
    # the decoder benchmark's Open Model Zoo baseline (Model API 0.2.5, the last with OpenPose); --no-deps: its
    # requirements pin the end-of-life openvino-dev, which must not replace the current runtime
    .venv/bin/python -m pip install -q --no-deps openvino-model-api==0.2.5
fi
