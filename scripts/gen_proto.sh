#!/usr/bin/env bash
# Regenerates the Python stubs in rhone/v1/ from proto/rhone/v1/. Reproducible: same inputs,
# same grpcio-tools, same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
rm -f rhone/v1/*_pb2*.py rhone/v1/*_pb2*.pyi rhone/api/v1/*_pb2*.py rhone/api/v1/*_pb2*.pyi
"$PY" -m grpc_tools.protoc -I proto \
  --python_out=. --grpc_python_out=. --pyi_out=. \
  proto/rhone/v1/*.proto proto/rhone/api/v1/*.proto
touch rhone/v1/__init__.py rhone/api/__init__.py rhone/api/v1/__init__.py
