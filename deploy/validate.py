"""`make k8s-validate`: renders every overlay under deploy/k8s/overlays and checks each object
against the Kubernetes OpenAPI schemas (offline: the schemas ship inside the pinned
kubernetes-validate package; strict, so a misspelt field is an error), then runs the checks a
reviewer would otherwise do by hand (`policy_problems`). Exit status 1 and one line per
problem when anything is wrong.

`python -m deploy.validate [OVERLAY_DIR...]` (default: every overlay)."""

from __future__ import annotations

import argparse
import base64
import ipaddress
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from deploy.kustomize import KustomizeError, render
from services.providers.routing_config import RoutingConfigError, parse_routing_config

# The Kubernetes version the manifests target (its schemas ship in kubernetes-validate).
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = Path(__file__).resolve().parent / "k8s" / "overlays"
SERVICES = ("facade", "translator", "sessions", "providers")
GRPC_SERVICES = ("translator", "sessions", "providers")
# Which pods may see each Secret (by component label): keys and the database URL go only where
# they are used.
SECRET_CONSUMERS = {
    "rhone-provider-keys": {"providers"},
    "rhone-database": {"sessions"},
    "rhone-database-migrate": {"migrate"},
    "rhone-api-keys": {"sessions"},
    "rhone-postgres": {"database"},
    "rhone-service-identity": {"facade", "translator", "sessions", "providers"},
    "rhone-server-secrets": {"translator", "sessions"},
}
# Secrets an overlay expects to exist in the cluster already (created by the operator).
EXTERNAL_SECRETS = {
    "production": {
        "rhone-database",
        "rhone-database-migrate",
        "rhone-api-keys",
        "rhone-provider-keys",
        "rhone-service-identity",
        "rhone-server-secrets",
    },
}
# Who may open connections to whom (by component label), as the issue asks: only the facade is
# reachable from outside; sessions from facade and translator; providers from the translator.
ANYWHERE = {"anywhere"}
ALLOWED_INGRESS = {
    "facade": ANYWHERE,
    "translator": {"facade"},
    "sessions": {"facade", "translator"},
    "providers": {"translator"},
    "database": {"sessions", "migrate"},
    "migrate": set(),
}
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS)", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def _id(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _base_name(name: str, names: set[str]) -> str:
    """A generated object's name without kustomize's hash suffix."""
    stripped = HASH_SUFFIX.sub("", name)
    return stripped if stripped in names or stripped != name else name


def schema_problems(objects: list[dict[str, Any]]) -> Iterator[str]:
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path)
            message = error.message
            yield f"{_id(obj)}: schema: {where or '(top)'}: {message}"
        except kubernetes_validate.SchemaNotFoundError:
            api = f"{obj.get('apiVersion')} {obj.get('kind')}"
            yield f"{_id(obj)}: schema: no {api} in Kubernetes {KUBERNETES_VERSION}"


def _pod(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") not in WORKLOAD_KINDS:
        return None
    return dict(obj.get("spec", {}).get("template", {}).get("spec") or {})


def _pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {})


def _component(obj: dict[str, Any]) -> str:
    return _pod_labels(obj).get("app.kubernetes.io/component", "")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions In/NotIn/Exists) against labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _container_problems(obj: dict[str, Any], pod: dict[str, Any]) -> Iterator[str]:
    serving = obj["kind"] != "Job"
    pod_security = pod.get("securityContext") or {}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        where = f"{_id(obj)}: container {container['name']}"
        if serving and container in (pod.get("containers") or []):
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    yield f"{where}: no {probe}"
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(resources.get(bound) or {})
            if missing:
                yield f"{where}: no {bound} for {', '.join(sorted(missing))}"
        security = container.get("securityContext") or {}
        if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
            yield f"{where}: runAsNonRoot is not true"
        if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
            yield f"{where}: runs as user 0"
        if security.get("readOnlyRootFilesystem") is not True:
            yield f"{where}: readOnlyRootFilesystem is not true"
        if security.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation is not false"
        if security.get("privileged"):
            yield f"{where}: privileged"
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            yield f"{where}: capabilities do not drop ALL"
        image = str(container.get("image", ""))
        if "@" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            yield f"{where}: image {image!r} is not pinned to a tag or digest"
        for env in container.get("env") or []:
            if "value" in env and SECRET_NAME.search(env["name"]) and env["value"]:
                yield f"{where}: {env['name']} is a literal; secrets come from a Secret"
            if "value" in env and URL_WITH_PASSWORD.search(str(env["value"])):
                yield f"{where}: {env['name']} holds a URL with a password"


def _rhone_pod_problems(obj: dict[str, Any], pod: dict[str, Any]) -> Iterator[str]:
    component = _component(obj)
    if pod.get("automountServiceAccountToken") is not False:
        yield f"{_id(obj)}: automountServiceAccountToken is not false (no service uses the API)"
    if pod.get("enableServiceLinks") is not False:
        yield f"{_id(obj)}: enableServiceLinks is not false (RHONE_*_PORT env would collide)"
    if obj["kind"] != "Deployment" or component not in SERVICES:
        return
    container = pod["containers"][0]
    expected = ["python", "-m", f"services.{component}"]
    if container.get("command") != expected or container.get("args"):
        yield f"{_id(obj)}: command is not {expected}, what rhone.launcher runs"
    env = {e["name"]: e.get("value") for e in container.get("env") or []}
    grace = float(env.get("RHONE_SHUTDOWN_GRACE_S") or 30)
    pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
    needed = grace + float(pre_stop.get("seconds", 0))
    if float(pod.get("terminationGracePeriodSeconds", 30)) <= needed:
        yield (
            f"{_id(obj)}: terminationGracePeriodSeconds must exceed the drain time "
            f"(RHONE_SHUTDOWN_GRACE_S + preStop = {needed:g} s)"
        )
    if not pod.get("topologySpreadConstraints"):
        yield f"{_id(obj)}: no topologySpreadConstraints"
    probes = [container.get(p) or {} for p in ("readinessProbe", "startupProbe")]
    if component in GRPC_SERVICES and not all("grpc" in p for p in probes):
        yield f"{_id(obj)}: readiness and startup probes must be gRPC health checks"
    if component == "facade":
        paths = {p: (container.get(p) or {}).get("httpGet", {}).get("path") for p in
                 ("readinessProbe", "livenessProbe")}  # fmt: skip
        if paths != {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}:
            yield f"{_id(obj)}: facade probes must be GET /readyz (readiness), /healthz (liveness)"


def _references(pod: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(kind, name, optional) of every ConfigMap and Secret a pod uses."""
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            yield (
                "ConfigMap",
                volume["configMap"]["name"],
                bool(volume["configMap"].get("optional")),
            )
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"], bool(volume["secret"].get("optional"))
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if field in source:
                    yield kind, source[field]["name"], bool(source[field].get("optional"))
        for env_from in container.get("envFrom") or []:
            for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if field in env_from:
                    yield kind, env_from[field]["name"], bool(env_from[field].get("optional"))


def _config_problems(objects: list[dict[str, Any]], overlay: str) -> Iterator[str]:
    present = {(o["kind"], o["metadata"]["name"]) for o in objects}
    secrets = [o for o in objects if o["kind"] == "Secret"]
    config_maps = [o for o in objects if o["kind"] == "ConfigMap"]
    external = EXTERNAL_SECRETS.get(overlay, set())
    known = set(SECRET_CONSUMERS)
    for obj in objects:
        pod = _pod(obj)
        if pod is None:
            continue
        for kind, name, optional in _references(pod):
            base = _base_name(name, known)
            if (kind, name) not in present and not optional and base not in external:
                yield f"{_id(obj)}: uses {kind} {name}, which nothing provides"
            if kind == "Secret":
                allowed = SECRET_CONSUMERS.get(base)
                if allowed is None:
                    yield f"{_id(obj)}: uses Secret {name}, which has no declared consumers"
                elif _component(obj) not in allowed:
                    yield f"{_id(obj)}: Secret {base} may only reach {sorted(allowed)}"
    secret_values = {
        base64.b64decode(value).decode(errors="replace")
        for secret in secrets
        for value in (secret.get("data") or {}).values()
    }
    for config_map in config_maps:
        for key, value in (config_map.get("data") or {}).items():
            text = str(value)
            if any(len(s) >= 8 and s in text for s in secret_values):
                yield f"{_id(config_map)}: {key} contains a Secret's value"
            elif SECRET_NAME.search(key) or URL_WITH_PASSWORD.search(text):
                yield f"{_id(config_map)}: {key} looks like a secret; put it in a Secret"
            for line in text.splitlines():
                name, sep, assigned = line.partition("=")
                if sep and assigned.strip() and SECRET_NAME.search(name) and " " not in name:
                    yield f"{_id(config_map)}: {key} assigns {name.strip()}; put it in a Secret"
        if _base_name(config_map["metadata"]["name"], {"rhone-routing"}) == "rhone-routing":
            try:
                parse_routing_config(yaml.safe_load(config_map["data"]["routing.yaml"]))
            except (RoutingConfigError, yaml.YAMLError, KeyError) as error:
                yield f"{_id(config_map)}: routing.yaml: {error}"


def _service_problems(objects: list[dict[str, Any]]) -> Iterator[str]:
    workloads = [o for o in objects if _pod(o) is not None]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    for service in services.values():
        selected = [
            w
            for w in workloads
            if _selects({"matchLabels": service["spec"].get("selector") or {}}, _pod_labels(w))
        ]
        if not selected:
            yield f"{_id(service)}: selects no pods"
        grpc = any(
            p.get("appProtocol") == "grpc" or p.get("name") == "grpc"
            for p in service["spec"].get("ports") or []
        ) or any(_component(w) in GRPC_SERVICES for w in selected)
        if grpc and service["spec"].get("clusterIP") != "None":
            yield f"{_id(service)}: a gRPC backend's Service must be headless (clusterIP: None)"
    for component in GRPC_SERVICES:
        if not any(
            s["spec"].get("clusterIP") == "None"
            and (s["spec"].get("selector") or {}).get("app.kubernetes.io/component") == component
            for s in services.values()
        ):
            yield f"{component}: no headless Service selects it"
    # Every dns:/// target a service dials names a headless Service and one of its ports.
    for workload in workloads:
        for container in (_pod(workload) or {}).get("containers") or []:
            for env in container.get("env") or []:
                value = str(env.get("value", ""))
                if not value.startswith("dns:///"):
                    continue
                host, _, port = value.removeprefix("dns:///").rpartition(":")
                target = services.get(host.split(".")[0])
                ports = [p["port"] for p in (target or {}).get("spec", {}).get("ports") or []]
                if (
                    target is None
                    or target["spec"].get("clusterIP") != "None"
                    or int(port) not in ports
                ):
                    yield f"{_id(workload)}: {env['name']}={value} names no headless Service port"


PRIVATE = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
]


def _reaches_internet(rule: dict[str, Any]) -> bool:
    """An egress rule to anywhere, or to an address block outside the private ranges."""
    peers = rule.get("to") or []
    if not peers:
        return True
    for peer in peers:
        cidr = (peer.get("ipBlock") or {}).get("cidr")
        if cidr is None:
            continue
        network = ipaddress.ip_network(cidr)
        if not any(
            network.version == p.version and network.subnet_of(p)  # type: ignore[arg-type]
            for p in PRIVATE
        ):
            return True
    return False


def _network_problems(objects: list[dict[str, Any]]) -> Iterator[str]:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    if not any(
        p["spec"].get("podSelector") in ({}, None)
        and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in policies
    ):
        yield "NetworkPolicy: no default deny of ingress and egress for the namespace"
    workloads = [o for o in objects if _pod(o) is not None]
    for workload in workloads:
        labels, component = _pod_labels(workload), _component(workload)
        selecting = [p for p in policies if _selects(p["spec"].get("podSelector") or {}, labels)]
        # Its own: selects it by name, and lets in more than Prometheus.
        own = [
            p
            for p in selecting
            if p["spec"].get("podSelector")
            and not all(_is_scrape_rule(rule) for rule in p["spec"].get("ingress") or [{}])
        ]
        ingress = [p for p in selecting if "Ingress" in (p["spec"].get("policyTypes") or [])]
        if workload["kind"] != "Job" and not any(p in own for p in ingress):
            yield f"{_id(workload)}: no NetworkPolicy of its own allows its ingress"
        sources = _ingress_sources(ingress, workloads)
        expected = ALLOWED_INGRESS.get(component, set())
        if expected != ANYWHERE and sources != expected:
            yield (
                f"{_id(workload)}: ingress allowed from {sorted(sources)}, "
                f"expected only {sorted(expected)}"
            )
        internet = any(
            _reaches_internet(rule)
            for p in selecting
            if "Egress" in (p["spec"].get("policyTypes") or [])
            for rule in p["spec"].get("egress") or []
        )
        if internet and component != "providers":
            yield f"{_id(workload)}: may reach the internet; only providers may"


# Prometheus scrapes from a namespace labelled so (deploy/k8s/observability); the rule that
# lets it in may open the metrics port and nothing else.
SCRAPE_LABEL = "rhone.dev/scrape"
METRICS_PORT = 9090


def _is_scrape_rule(rule: dict[str, Any]) -> bool:
    peers = rule.get("from") or []
    ports = rule.get("ports") or []
    return (
        bool(peers)
        and bool(ports)
        and all(
            set(peer) == {"namespaceSelector"}
            and SCRAPE_LABEL in ((peer["namespaceSelector"] or {}).get("matchLabels") or {})
            for peer in peers
        )
        and all(port.get("port") == METRICS_PORT for port in ports)
    )


def _ingress_sources(policies: list[dict[str, Any]], workloads: list[dict[str, Any]]) -> set[str]:
    """The components (or "anywhere") the policies let in; peers outside the namespace count
    as anywhere."""
    sources: set[str] = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress") or []:
            if _is_scrape_rule(rule):
                continue  # Prometheus, on the metrics port only
            peers = rule.get("from") or []
            if not peers:
                sources.add("anywhere")
            for peer in peers:
                if "podSelector" not in peer or "namespaceSelector" in peer:
                    sources.add("anywhere")
                    continue
                sources |= {
                    _component(w)
                    for w in workloads
                    if _selects(peer["podSelector"], _pod_labels(w))
                }
    return sources


def _scaling_problems(objects: list[dict[str, Any]]) -> Iterator[str]:
    workloads = {(o["kind"], o["metadata"]["name"]): o for o in objects if _pod(o) is not None}
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        target = workloads.get((ref["kind"], ref["name"]))
        if target is None:
            yield f"{_id(hpa)}: scales {ref['kind']}/{ref['name']}, which does not exist"
            continue
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            yield f"{_id(hpa)}: minReplicas above maxReplicas"
        if hpa["spec"].get("minReplicas", 1) < 2:
            yield f"{_id(hpa)}: minReplicas below 2 leaves no replica during a rollout"
    for pdb in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
        selector = pdb["spec"].get("selector") or {}
        if not any(_selects(selector, _pod_labels(w)) for w in workloads.values()):
            yield f"{_id(pdb)}: selects no pods"
    for (kind, name), workload in workloads.items():
        if kind == "Job":
            continue
        if not any(
            _selects(p["spec"].get("selector") or {}, _pod_labels(workload))
            for p in objects
            if p["kind"] == "PodDisruptionBudget"
        ):
            yield f"{kind}/{name}: no PodDisruptionBudget"


def policy_problems(objects: list[dict[str, Any]], overlay: str) -> Iterator[str]:
    components = {_component(o) for o in objects if o["kind"] == "Deployment"}
    for missing in sorted(set(SERVICES) - components):
        yield f"{missing}: no Deployment"
    for obj in objects:
        pod = _pod(obj)
        if pod is not None:
            yield from _guarded(_id(obj), _container_problems, obj, pod)
            yield from _guarded(_id(obj), _rhone_pod_problems, obj, pod)
    yield from _guarded("config", _config_problems, objects, overlay)
    for check in (_service_problems, _network_problems, _scaling_problems):
        yield from _guarded(check.__name__.strip("_"), check, objects)


def _guarded(where: str, check: Callable[..., Iterator[str]], *args: Any) -> Iterator[str]:
    """A check's problems; a check that cannot run on a malformed object is a problem too."""
    try:
        yield from check(*args)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        yield f"{where}: malformed ({type(error).__name__}: {error}); see the schema problems"


def validate_overlay(directory: Path) -> tuple[int, list[str]]:
    """(objects rendered, problems) of one overlay."""
    try:
        objects = render(directory)
    except KustomizeError as error:
        return 0, [f"render: {error}"]
    problems = [*schema_problems(objects), *policy_problems(objects, directory.name)]
    return len(objects), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overlays", nargs="*", type=Path)
    args = parser.parse_args(argv)
    overlays = args.overlays or sorted(p for p in OVERLAYS.iterdir() if p.is_dir())
    failed = False
    for overlay in overlays:
        count, problems = validate_overlay(overlay)
        for problem in problems:
            print(f"{overlay.name}: {problem}")
        failed = failed or bool(problems)
        verdict = f"{len(problems)} problem(s)" if problems else "valid"
        print(
            f"{overlay.name}: {count} objects; schemas of Kubernetes {KUBERNETES_VERSION} "
            f"and policy: {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
