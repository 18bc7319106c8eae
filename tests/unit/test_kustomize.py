"""deploy.kustomize renders what `kustomize build` renders: every case and every overlay of
deploy/k8s is compared object for object, in order, with kustomize's own output."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.kustomize import KustomizeError, content_hash, render
from deploy.kustomize_reference import ReferenceUnavailable, kustomize_build

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "kustomize_cases"
DIRECTORIES = [
    CASES / "base",
    CASES / "overlay",
    *sorted((ROOT / "deploy" / "k8s" / "overlays").glob("*")),
]


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_render_equals_kustomize_build(directory: Path) -> None:
    try:
        expected = kustomize_build(directory)
    except ReferenceUnavailable as missing:
        pytest.skip(str(missing))
    assert render(directory) == expected


def test_generated_names_carry_kustomizes_hash() -> None:
    # The suffix `kustomize build` gives this ConfigMap (checked with the reference above).
    config_map = {
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"a": "b<&>", "x": "q"},
    }
    assert content_hash(config_map) == "c7fbhbmbc2"


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: app, image: app}]
"""


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [d.yaml]\nnamePrefix: x-\n", "not supported"),
        ("resources: [d.yaml, d.yaml]\n", "declared twice"),
        ("resources: [missing.yaml]\n", "does not exist"),
        (
            "resources: [d.yaml]\npatches:\n- target: {kind: Service}\n"
            "  patch: '[{op: remove, path: /spec}]'\n",
            "matches no resource",
        ),
        (
            "resources: [d.yaml]\npatches:\n- target: {kind: Deployment}\n"
            "  patch: '[{op: remove, path: /spec/nothing}]'\n",
            "does not exist",
        ),
        ("resources: [d.yaml]\nreplicas: [{name: other, count: 2}]\n", "no such workload"),
        ("configMapGenerator: [{name: c, behavior: merge, literals: [a=b]}]\n", "no base"),
    ],
)
def test_render_refuses_what_it_cannot_render_faithfully(
    tmp_path: Path, kustomization: str, message: str
) -> None:
    _write(tmp_path, {"kustomization.yaml": kustomization, "d.yaml": DEPLOYMENT})
    with pytest.raises(KustomizeError, match=message):
        render(tmp_path)
