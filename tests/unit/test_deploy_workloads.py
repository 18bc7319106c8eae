"""The Deployments of each overlay start the services exactly as `make run` does
(rhone.launcher), with the settings the services read, so a test can run them as processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.kustomize import render
from deploy.workloads import workloads
from rhone.launcher import SERVICES
from services.providers.routing_config import load_routing_config

OVERLAYS = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "overlays"


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_each_service_runs_the_launchers_command(overlay: str) -> None:
    found = workloads(render(OVERLAYS / overlay))
    assert set(found) == set(SERVICES)
    for name, workload in found.items():
        assert workload.command == ["python", "-m", f"services.{name}"]


def test_production_replicas_and_peer_targets() -> None:
    found = workloads(render(OVERLAYS / "production"))
    assert {name: w.replicas for name, w in found.items()} == {
        "facade": 2,
        "translator": 2,
        "sessions": 2,
        "providers": 3,
    }
    assert found["facade"].env["RHONE_TRANSLATOR_ADDR"] == "dns:///rhone-translator:50061"
    assert found["translator"].env["RHONE_PROVIDERS_ADDR"] == "dns:///rhone-providers:50063"
    assert found["sessions"].env["RHONE_MIGRATE_ON_START"] == "false"
    # Production's credentials are created outside the overlay.
    assert found["sessions"].unresolved == [
        "RHONE_DATABASE_URL",
        "RHONE_SERVICE_TOKEN",
        "RHONE_KEY_HMAC_SECRET",
    ]
    assert found["providers"].unresolved == [
        "envFrom Secret rhone-provider-keys",
        "RHONE_SERVICE_TOKEN",
    ]
    assert found["facade"].unresolved == ["RHONE_SERVICE_TOKEN"]
    assert found["translator"].unresolved == ["RHONE_SERVICE_TOKEN", "RHONE_COMPACTION_SECRET"]


def test_dev_resolves_every_setting_and_mounts_a_valid_routing_file(tmp_path: Path) -> None:
    found = workloads(render(OVERLAYS / "dev"))
    assert all(not w.unresolved for w in found.values())
    assert found["sessions"].env["RHONE_DATABASE_URL"].startswith("postgresql://rhone_app:")
    assert found["sessions"].env["RHONE_API_KEY"] == "rk-dev-not-secret"
    providers = found["providers"]
    routing = providers.env["RHONE_ROUTING_CONFIG"]
    assert set(providers.files) == {routing}
    (tmp_path / "routing.yaml").write_text(providers.files[routing])
    load_routing_config(str(tmp_path / "routing.yaml"))
