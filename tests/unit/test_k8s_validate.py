"""`make k8s-validate` passes on deploy/k8s as committed, and fails, naming the problem, on
each kind of broken manifest a reviewer should catch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.validate import validate_overlay

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_committed_overlays_are_valid(overlay: str) -> None:
    count, problems = validate_overlay(K8S / "overlays" / overlay)
    assert problems == []
    assert count > 20


def broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of deploy/k8s with one edit; fails the test if the edit does not apply."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    path = copy / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))
    return copy / "overlays"


BREAKAGES = [
    # (overlay, file, old, new, the problem reported)
    pytest.param(
        "dev", "base/facade.yaml", "readinessProbe:", "readinesProbe:",
        "schema: spec/template/spec/containers/0: Additional properties",
        id="misspelt-field",
    ),
    pytest.param(
        "production", "base/translator.yaml", "terminationGracePeriodSeconds: 35",
        "terminationGracePeriodSeconds: thirty-five",
        "schema: spec/template/spec/terminationGracePeriodSeconds: 'thirty-five' is not of type",
        id="wrong-type",
    ),
    pytest.param(
        "dev", "base/translator.yaml",
        "          readinessProbe:\n            grpc: {port: 50061}\n", "",
        "Deployment/rhone-translator: container translator: no readinessProbe",
        id="no-readiness-probe",
    ),
    pytest.param(
        "production", "base/providers.yaml", 'limits: {cpu: "2", memory: 1Gi}',
        "limits: {memory: 1Gi}", "container providers: no limits for cpu",
        id="no-cpu-limit",
    ),
    pytest.param(
        "dev", "base/sessions.yaml", "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false", "container sessions: readOnlyRootFilesystem is not true",
        id="writable-root",
    ),
    pytest.param(
        "dev", "base/migrate-job.yaml", "        runAsNonRoot: true\n        runAsUser: 10001\n",
        "        runAsUser: 0\n", "container migrate: runs as user 0",
        id="root-job",
    ),
    pytest.param(
        "dev", "base/facade.yaml", "capabilities: {drop: [ALL]}",
        "capabilities: {drop: [NET_RAW]}", "container facade: capabilities do not drop ALL",
        id="capabilities-kept",
    ),
    pytest.param(
        "dev", "overlays/dev/kustomization.yaml", "    files:\n      - postgres-init.sh\n",
        "    files:\n      - postgres-init.sh\n    literals:\n"
        "      - DATABASE=postgresql://rhone:dev-owner-password-not-secret@db/rhone\n",
        "ConfigMap/rhone-postgres-init",
        id="secret-value-in-configmap",
    ),
    pytest.param(
        "production", "base/kustomization.yaml", "      - routing.yaml\n",
        "      - routing.yaml\n    literals:\n      - OPENAI_API_KEY=sk-live-123456\n",
        "OPENAI_API_KEY looks like a secret; put it in a Secret",
        id="key-in-configmap",
    ),
    pytest.param(
        "production", "base/routing.yaml", "models: {}", "models: {smart: []}",
        "routing.yaml: ",
        id="routing-file-invalid",
    ),
    pytest.param(
        "production", "base/sessions.yaml", "  clusterIP: None\n", "",
        "Service/rhone-sessions: a gRPC backend's Service must be headless",
        id="grpc-service-not-headless",
    ),
    pytest.param(
        "dev", "base/facade.yaml", 'value: "dns:///rhone-translator:50061"',
        'value: "dns:///rhone-translator:50099"',
        "RHONE_TRANSLATOR_ADDR=dns:///rhone-translator:50099 names no headless Service port",
        id="peer-address-wrong-port",
    ),
    pytest.param(
        "production", "base/providers.yaml", "    kind: Deployment\n    name: rhone-providers",
        "    kind: Deployment\n    name: rhone-provider", "scales Deployment/rhone-provider, which",
        id="hpa-target-missing",
    ),
    pytest.param(
        "production", "base/network-policies.yaml",
        "component: providers}\n  policyTypes", "component: provider}\n  policyTypes",
        "Deployment/rhone-providers: no NetworkPolicy of its own allows its ingress",
        id="networkpolicy-missing",
    ),
    pytest.param(
        "production", "base/network-policies.yaml",
        "  name: rhone-sessions\nspec:\n  podSelector:\n"
        "    matchLabels: {app.kubernetes.io/name: rhone, app.kubernetes.io/component: sessions}\n"
        "  policyTypes: [Ingress, Egress]\n  ingress:\n    - from:\n",
        "  name: rhone-sessions\nspec:\n  podSelector:\n"
        "    matchLabels: {app.kubernetes.io/name: rhone, app.kubernetes.io/component: sessions}\n"
        "  policyTypes: [Ingress, Egress]\n  ingress:\n    - ports: [{port: 50062}]\n    - from:\n",
        "Deployment/rhone-sessions: ingress allowed from ['anywhere', 'facade', 'translator']",
        id="sessions-open-to-all",
    ),
    pytest.param(
        "production", "base/network-policies.yaml",
        "component: translator}\n      ports:\n        - {protocol: TCP, port: 50063}",
        "component: translator}\n        - podSelector:\n            matchLabels: "
        "{app.kubernetes.io/component: facade}\n"
        "      ports:\n        - {protocol: TCP, port: 50063}",
        "Deployment/rhone-providers: ingress allowed from ['facade', 'translator'], "
        "expected only ['translator']",
        id="providers-reachable-from-facade",
    ),
    pytest.param(
        "dev", "overlays/dev/postgres.yaml", "values: [sessions, migrate]}\n      ports",
        "values: [sessions, migrate, providers]}\n      ports",
        "StatefulSet/rhone-postgres: ingress allowed from ['migrate', 'providers', 'sessions']",
        id="database-reachable-from-providers",
    ),
    pytest.param(
        "production", "base/network-policies.yaml", "      - {protocol: TCP, port: 50062}\n---",
        "      - {protocol: TCP, port: 50062}\n  egress:\n"
        "    - to: [{ipBlock: {cidr: 0.0.0.0/0}}]\n---",
        "Deployment/rhone-facade: may reach the internet",
        id="internet-egress-outside-providers",
    ),
    pytest.param(
        "dev", "base/translator.yaml", "            - {name: RHONE_SHUTDOWN_GRACE_S",
        "          envFrom: [{secretRef: {name: rhone-provider-keys}}]\n          env:\n"
        "            - {name: RHONE_SHUTDOWN_GRACE_S",
        "Secret rhone-provider-keys may only reach ['providers']",
        id="provider-keys-in-translator",
    ),
    pytest.param(
        "dev", "base/sessions.yaml", "terminationGracePeriodSeconds: 35",
        "terminationGracePeriodSeconds: 30", "must exceed the drain time",
        id="grace-shorter-than-drain",
    ),
    pytest.param(
        "dev", "base/providers.yaml", "command: [python, -m, services.providers]",
        "command: [python, services/providers/__main__.py]", "what rhone.launcher runs",
        id="command-differs-from-launcher",
    ),
    pytest.param(
        "dev", "overlays/dev/kustomization.yaml", "  - name: rhone-database\n",
        "  - name: rhone-db\n", "uses Secret rhone-database, which nothing provides",
        id="secret-missing",
    ),
    pytest.param(
        "production", "overlays/production/kustomization.yaml", "newTag: 0.1.0", "newTag: latest",
        "is not pinned to a tag or digest",
        id="image-latest",
    ),
    pytest.param(
        "production", "overlays/production/kustomization.yaml", "name: rhone-database-clients",
        "name: rhone-database-client", "render: ",
        id="patch-matches-nothing",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("overlay", "file", "old", "new", "problem"), BREAKAGES)
def test_a_broken_manifest_fails_validation(
    tmp_path: Path, overlay: str, file: str, old: str, new: str, problem: str
) -> None:
    _, problems = validate_overlay(broken(tmp_path, file, old, new) / overlay)
    assert any(problem in p for p in problems), problems


def test_the_command_exits_non_zero_and_names_the_problem(tmp_path: Path) -> None:
    overlays = broken(tmp_path, "base/sessions.yaml", "  clusterIP: None\n", "")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.validate",
            str(overlays / "dev"),
            str(overlays / "production"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "dev: Service/rhone-sessions: a gRPC backend's Service must be headless" in result.stdout
    assert "production: 24 objects" in result.stdout
