#!/usr/bin/env bash
# Fails when the committed stubs in rhone/v1 differ from what proto/ generates.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m grpc_tools.protoc -I proto --python_out="$tmp" --grpc_python_out="$tmp" --pyi_out="$tmp" \
  proto/rhone/v1/*.proto proto/rhone/api/v1/*.proto
touch "$tmp/rhone/v1/__init__.py" "$tmp/rhone/api/__init__.py" "$tmp/rhone/api/v1/__init__.py"
if ! diff -r -x __pycache__ "$tmp/rhone/v1" rhone/v1 >/dev/null ||
  ! diff -r -x __pycache__ "$tmp/rhone/api" rhone/api >/dev/null; then
  echo "rhone/v1 is out of date with proto/: run 'make proto' and commit the result." >&2
  { diff -r -x __pycache__ "$tmp/rhone/v1" rhone/v1; diff -r -x __pycache__ "$tmp/rhone/api" rhone/api; } | head -40 >&2
  exit 1
fi
echo "proto stubs up to date"
