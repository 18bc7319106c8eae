"""What a rendered overlay would run, in a form a test can start as local processes: for each
Deployment, its replica count, and its container's command, environment (values from the
overlay's own ConfigMaps and Secrets resolved) and mounted ConfigMap files.

`workloads(render(Path("deploy/k8s/overlays/production")))["providers"]` gives the providers
Deployment; a value that comes from a Secret the overlay does not create (production's
database URL, say) is listed in `unresolved` instead of `env`."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A peer target in the manifests: the headless Service of a component.
PEER_TARGET = re.compile(r"^dns:///rhone-(\w+):\d+$")


@dataclass(frozen=True)
class Workload:
    name: str  # the Deployment's name
    component: str  # its app.kubernetes.io/component label
    replicas: int
    container: str
    command: list[str]
    env: dict[str, str]
    # Env names whose Secret or ConfigMap is not in the render (not optional ones).
    unresolved: list[str] = field(default_factory=list)
    # Mounted ConfigMap files: path in the container -> content.
    files: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def local_env(
        self,
        *,
        host: str,
        port: int,
        peers: dict[str, str],
        files_dir: Path,
        overrides: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """This container's env for a process on this machine: it listens on host:port, each
        `dns:///rhone-<component>:<port>` target becomes `peers[component]` (any gRPC target,
        e.g. `ipv4:127.0.0.2:7001,127.0.0.3:7001` for several replicas), mounted files are
        written under files_dir and the env points at them; a gRPC service's metrics port is
        off (processes here share one address); `overrides` apply last."""
        env = dict(self.env)
        for name, value in env.items():
            if match := PEER_TARGET.match(value):
                env[name] = peers[match.group(1)]
            elif name == f"RHONE_{self.component.upper()}_LISTEN":
                # Only the service's own address: the facade's public gRPC port
                # (RHONE_GRPC_LISTEN) is a second one, set through `overrides`.
                env[name] = f"{host}:{port}"
            elif name == "RHONE_GRPC_LISTEN":
                # The facade's second port (the public gRPC API): its own port, on this
                # replica's host (`overrides` may move it).
                env[name] = f"{host}:{value.rsplit(':', 1)[-1]}"
            elif name.endswith("_METRICS_PORT"):
                # Every pod has the metrics port to itself; local processes share one host.
                env[name] = "0"
        if self.component == "facade":
            env |= {"RHONE_HOST": host, "RHONE_PORT": str(port)}
        for path, text in self.files.items():
            local = files_dir / self.component / path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text)
            env = {k: str(local) if v == path else v for k, v in env.items()}
        return env | (overrides or {})


def _data(obj: dict[str, Any]) -> dict[str, str]:
    data = dict(obj.get("data") or {})
    if obj.get("kind") == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in data.items()}
    return {k: str(v) for k, v in data.items()}


def workloads(objects: list[dict[str, Any]]) -> dict[str, Workload]:
    """Each Deployment's first container, keyed by its component label."""
    sources = {
        (obj["kind"], obj["metadata"]["name"]): _data(obj)
        for obj in objects
        if obj.get("kind") in ("ConfigMap", "Secret")
    }
    found = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env: dict[str, str] = {}
        unresolved: list[str] = []
        for source in container.get("envFrom") or []:
            for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if ref in source:
                    data = sources.get((kind, source[ref]["name"]))
                    if data is not None:
                        env.update(data)
                    elif not source[ref].get("optional"):
                        unresolved.append(f"envFrom {kind} {source[ref]['name']}")
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            value_from = item.get("valueFrom") or {}
            for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if ref in value_from:
                    key_ref = value_from[ref]
                    value = sources.get((kind, key_ref["name"]), {}).get(key_ref["key"])
                    if value is not None:
                        env[item["name"]] = value
                    elif not key_ref.get("optional"):
                        unresolved.append(item["name"])
        volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
        files = {}
        for mount in container.get("volumeMounts") or []:
            config_map = volumes.get(mount["name"], {}).get("configMap")
            if config_map:
                for key, text in sources.get(("ConfigMap", config_map["name"]), {}).items():
                    files[f"{mount['mountPath'].rstrip('/')}/{key}"] = text
        labels = obj["spec"]["template"]["metadata"].get("labels") or {}
        component = labels.get("app.kubernetes.io/component", obj["metadata"]["name"])
        found[component] = Workload(
            name=obj["metadata"]["name"],
            component=component,
            replicas=int(obj["spec"].get("replicas", 1)),
            container=container["name"],
            command=[*container.get("command", []), *container.get("args", [])],
            env=env,
            unresolved=unresolved,
            files=files,
            ports={
                p.get("name", str(p["containerPort"])): p["containerPort"]
                for p in container.get("ports") or []
            },
        )
    return found
