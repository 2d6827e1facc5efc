#!/usr/bin/env bash
# The Python wheel (python/): builds it with maturin through pip (the
# documented `pip install ./python`), installs it into a venv, runs the pytest
# suite with warnings as errors (conformance vectors, third-party vectors,
# hypothesis properties against rfc8785 and pymerkle, malformed input,
# doctests), then smoke-runs the example and the benchmark script.
#
#   bash scripts/test-python.sh
#   PYTEST_ARGS="-k vectors" bash scripts/test-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-python3}
VENV=${KWH_PYTHON_VENV:-target/python-venv}

# Test and build requirements (scripts/setup.sh installs them; this covers a
# machine where it did not run).
if ! "$PY" -c "import maturin, pytest, hypothesis, rfc8785, pymerkle, cryptography, mypy" 2>/dev/null; then
  echo "test-python: pip install -r python/requirements-dev.txt"
  "$PY" -m pip install -q -r python/requirements-dev.txt
fi
command -v cargo >/dev/null || { echo "test-python: cargo (Rust) is needed to build the wheel" >&2; exit 1; }

# A venv that sees the requirements above, with the wheel installed in it.
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv --system-site-packages "$VENV"
fi
echo "test-python: pip install ./python (maturin, release build)"
"$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps --force-reinstall ./python

# Run from python/ so pytest finds pyproject.toml; the package is imported
# from the venv (python/python/ is not on sys.path).
cd python
"../$VENV/bin/python" -m pytest -W error \
  -W "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning" \
  ${PYTEST_ARGS:-} tests

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"../$VENV/bin/python" examples/pipeline.py --sample 3000 --out "$tmp/out"
"../$VENV/bin/python" benches/bench.py --n 2000 --repeat 1 >"$tmp/bench.txt"
echo "test-python: ok"
