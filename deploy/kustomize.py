"""Renders a kustomize directory offline, in Python: `render(Path("deploy/k8s/overlays/dev"))`
gives the list of objects `kubectl apply -k` would send, and `python -m deploy.kustomize DIR`
prints them as YAML.

Why not kustomize itself: no kustomize or kubectl binary can be installed on the development
machines or in CI from the package registries they reach (the only packaged build on PyPI
needs Python 3.14). So this module implements the subset of kustomize these manifests use,
following kustomize's own order and rules, and refuses every kustomization field it does not
implement rather than ignoring it:

- `resources` (files of one or more documents, and directories with their own kustomization,
  built first and whole, as kustomize does);
- `configMapGenerator` / `secretGenerator` (`literals`, `files`, `envs`; `behavior` create,
  merge, replace; `options` and `generatorOptions`: labels, annotations,
  disableNameSuffixHash). Generated names get kustomize's content-hash suffix (sha256 of the
  same JSON kustomize hashes, its 10-character encoding) and every reference to them from a pod
  template (volumes, env, envFrom, imagePullSecrets) is renamed to match;
- then the transformers in kustomize's order: `patches` (strategic merge or JSON 6902, inline
  or from a file, with an optional `target` of kind/name/namespace/labelSelector; a
  strategic merge patch whose top level says `$patch: delete` removes its target), `namespace`,
  `commonLabels` (selectors too), `labels` (with includeSelectors/includeTemplates),
  `commonAnnotations`, `replicas`, `images` (newName, newTag, digest);
- output in kustomize's default ("legacy") order: namespaces and config first, workloads after.

Not supported, and an error if used: components, namePrefix/nameSuffix, replacements, vars,
helmCharts, crds, openapi, the deprecated patchesStrategicMerge/patchesJson6902, remote
resources, and a `namespace` that renames a Namespace object."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.patching import PatchError, json6902, strategic_merge

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "commonLabels",
        "labels",
        "commonAnnotations",
        "images",
        "replicas",
        "patches",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
    }
)
# Kinds that have no namespace (those these manifests may use).
CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
     "PriorityClass", "CustomResourceDefinition", "IngressClass"}
)  # fmt: skip
# kustomize's legacy output order (api/resid/gvk.go): these first, in this order, then every
# other kind by name, then the webhook configurations.
ORDER_FIRST = (
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
    "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
    "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
)  # fmt: skip
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
WORKLOADS_WITH_SELECTOR = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
POD_TEMPLATE_KINDS = (*WORKLOADS_WITH_SELECTOR, "Job")


class KustomizeError(ValueError):
    """The kustomization cannot be rendered; the message names the file and the reason."""


@dataclass
class Resource:
    """One object, plus what kustomize remembers about generated ones."""

    obj: dict[str, Any]
    generated: bool = False
    hash_suffix: bool = False
    original_name: str = ""

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace", ""))

    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kustomize build directory` prints, in its order."""
    resources = _build(Path(directory).resolve(), stack=())
    _add_hash_suffixes(resources)
    return [r.obj for r in sorted(resources, key=_output_order)]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


# building one kustomization


def _kustomization(directory: Path) -> tuple[Path, dict[str, Any]]:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise KustomizeError(f"{path}: not a mapping")
            unknown = sorted(set(data) - SUPPORTED_FIELDS)
            if unknown:
                raise KustomizeError(f"{path}: fields not supported by this renderer: {unknown}")
            return path, data
    raise KustomizeError(f"{directory}: no kustomization.yaml")


def _build(directory: Path, stack: tuple[Path, ...]) -> list[Resource]:
    if directory in stack:
        raise KustomizeError(f"{directory}: cycle in resources")
    path, k = _kustomization(directory)
    resources: list[Resource] = []
    for entry in k.get("resources") or []:
        if "://" in str(entry):
            raise KustomizeError(f"{path}: remote resource {entry!r} not supported")
        target = (directory / str(entry)).resolve()
        found = _build(target, (*stack, directory)) if target.is_dir() else _load_file(target, path)
        for resource in found:
            _add(resources, resource, path)
    for kind in ("ConfigMap", "Secret"):
        field = "configMapGenerator" if kind == "ConfigMap" else "secretGenerator"
        for spec in k.get(field) or []:
            _generate(resources, kind, spec, k.get("generatorOptions") or {}, directory, path)
    for patch in k.get("patches") or []:
        _apply_patch(resources, patch, directory, path)
    if namespace := k.get("namespace"):
        _set_namespace(resources, str(namespace), path)
    if common := k.get("commonLabels"):
        _add_labels(resources, _strings(common), selectors=True, templates=True)
    for entry in k.get("labels") or []:
        _add_labels(
            resources,
            _strings(entry.get("pairs") or {}),
            selectors=bool(entry.get("includeSelectors", False)),
            templates=bool(entry.get("includeTemplates", False))
            or bool(entry.get("includeSelectors", False)),
        )
    if annotations := k.get("commonAnnotations"):
        _add_annotations(resources, _strings(annotations))
    for replica in k.get("replicas") or []:
        _set_replicas(resources, replica, path)
    for image in k.get("images") or []:
        _set_image(resources, image)
    return resources


def _strings(mapping: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items()}


def _load_file(target: Path, kustomization: Path) -> list[Resource]:
    if not target.is_file():
        raise KustomizeError(f"{kustomization}: resource {target} does not exist")
    found = []
    for document in yaml.safe_load_all(target.read_text()):
        if document is None:
            continue
        if not isinstance(document, dict) or "kind" not in document:
            raise KustomizeError(f"{target}: a document is not a Kubernetes object")
        # YAML anchors load as one shared object; each use must be its own copy.
        document = json.loads(json.dumps(document))
        if document.get("kind") == "List":
            found += [Resource(item) for item in document.get("items") or []]
        else:
            found.append(Resource(document))
    return found


def _add(resources: list[Resource], resource: Resource, where: Path) -> None:
    if not resource.name:
        raise KustomizeError(f"{where}: a {resource.kind} has no metadata.name")
    if any(r.key() == resource.key() for r in resources):
        raise KustomizeError(f"{where}: {resource.kind}/{resource.name} is declared twice")
    resources.append(resource)


# generators


def _env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise KustomizeError(f"{path}: line {line!r} is not KEY=VALUE")
        pairs[key.strip()] = value
    return pairs


def _generator_data(spec: dict[str, Any], directory: Path, where: Path) -> dict[str, str]:
    data: dict[str, str] = {}

    def put(key: str, value: str) -> None:
        if key in data:
            raise KustomizeError(f"{where}: key {key!r} given twice in {spec.get('name')}")
        data[key] = value

    for env in spec.get("envs") or []:
        for key, value in _env_file(directory / env).items():
            put(key, value)
    for entry in spec.get("files") or []:
        key, sep, file = str(entry).partition("=")
        file_path = directory / (file if sep else key)
        if not file_path.is_file():
            raise KustomizeError(f"{where}: file {file_path} does not exist")
        put(key if sep else file_path.name, file_path.read_text())
    for literal in spec.get("literals") or []:
        key, sep, value = str(literal).partition("=")
        if not sep:
            raise KustomizeError(f"{where}: literal {literal!r} is not KEY=VALUE")
        # kustomize strips one pair of surrounding quotes from a literal's value.
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        put(key, value)
    return data


def _base64_lines(value: str) -> str:
    """A Secret value as kustomize writes it (kyaml/yaml/datamap.go): base64 in lines of 70
    characters, each ending in a newline once there is more than one (the API server's decoder
    skips newlines)."""
    encoded = base64.b64encode(value.encode()).decode()
    if len(encoded) < 70:
        return encoded
    return "".join(encoded[i : i + 70] + "\n" for i in range(0, len(encoded), 70))


def _generate(
    resources: list[Resource],
    kind: str,
    spec: dict[str, Any],
    global_options: dict[str, Any],
    directory: Path,
    where: Path,
) -> None:
    name = spec.get("name")
    if not name:
        raise KustomizeError(f"{where}: a {kind} generator has no name")
    options = {**global_options, **(spec.get("options") or {})}
    data = _generator_data(spec, directory, where)
    if kind == "Secret":
        data = {k: _base64_lines(v) for k, v in data.items()}
    namespace = str(spec.get("namespace", ""))
    behavior = spec.get("behavior", "create")
    # A generator without a namespace merges into its namesake from any base namespace.
    existing = next(
        (
            r
            for r in resources
            if r.kind == kind and r.name == name and namespace in ("", r.namespace)
        ),
        None,
    )
    if behavior == "create":
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
        if namespace:
            obj["metadata"]["namespace"] = namespace
        if kind == "Secret":
            obj["type"] = spec.get("type", "Opaque")
        obj["data"] = data
        resource = Resource(obj, generated=True, original_name=name)
        _add(resources, resource, where)
    elif behavior in ("merge", "replace"):
        if existing is None:
            raise KustomizeError(f"{where}: {behavior} of {kind}/{name}, which no base declares")
        resource = existing
        if behavior == "merge":
            resource.obj["data"] = {**(resource.obj.get("data") or {}), **data}
        else:
            resource.obj["data"] = data
    else:
        raise KustomizeError(f"{where}: unknown generator behavior {behavior!r}")
    resource.hash_suffix = not options.get("disableNameSuffixHash", False)
    metadata = resource.obj["metadata"]
    for field in ("labels", "annotations"):
        if options.get(field):
            metadata[field] = {**(metadata.get(field) or {}), **_strings(options[field])}


def _go_json(value: Any) -> bytes:
    """Go's json.Marshal of a map: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode()


def content_hash(obj: dict[str, Any]) -> str:
    """kustomize's name suffix of a generated ConfigMap or Secret (api/hasher/hasher.go).

    The name kustomize hashes is always empty: it looks the name up as the single field
    "metadata/name", which no object has. Hashing the real name would give other suffixes than
    `kustomize build` does (checked against kustomize itself in tests/unit/test_kustomize.py)."""
    name = ""
    encoded: dict[str, Any]
    if obj["kind"] == "ConfigMap":
        encoded = {"kind": "ConfigMap", "name": name, "data": obj.get("data", "")}
        if isinstance(obj.get("binaryData"), dict):
            encoded["binaryData"] = obj["binaryData"]
    else:
        encoded = {
            "kind": "Secret",
            "type": obj.get("type", ""),
            "name": name,
            "data": obj.get("data", ""),
        }
        if isinstance(obj.get("stringData"), dict):
            encoded["stringData"] = obj["stringData"]
    digest = hashlib.sha256(_go_json(encoded)).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _add_hash_suffixes(resources: list[Resource]) -> None:
    renamed: dict[tuple[str, str, str], str] = {}
    for resource in resources:
        if resource.generated and resource.hash_suffix:
            new_name = f"{resource.name}-{content_hash(resource.obj)}"
            renamed[(resource.kind, resource.namespace, resource.original_name)] = new_name
            resource.obj["metadata"]["name"] = new_name
    if not renamed:
        return
    for resource in resources:
        for pod in _pod_specs(resource.obj):
            _rename_references(pod, resource.namespace, renamed)


def _rename_references(
    pod: dict[str, Any], namespace: str, renamed: dict[tuple[str, str, str], str]
) -> None:
    def fix(ref: dict[str, Any] | None, kind: str, field: str = "name") -> None:
        if isinstance(ref, dict) and (kind, namespace, ref.get(field)) in renamed:
            ref[field] = renamed[(kind, namespace, ref[field])]

    for volume in pod.get("volumes") or []:
        fix(volume.get("configMap"), "ConfigMap")
        fix(volume.get("secret"), "Secret", "secretName")
        for source in (volume.get("projected") or {}).get("sources") or []:
            fix(source.get("configMap"), "ConfigMap")
            fix(source.get("secret"), "Secret")
    for secret in pod.get("imagePullSecrets") or []:
        fix(secret, "Secret")
    for container in _containers(pod):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            fix(source.get("configMapKeyRef"), "ConfigMap")
            fix(source.get("secretKeyRef"), "Secret")
        for env_from in container.get("envFrom") or []:
            fix(env_from.get("configMapRef"), "ConfigMap")
            fix(env_from.get("secretRef"), "Secret")


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in POD_TEMPLATE_KINDS:
        return [(spec.get("template") or {}).get("spec") or {}]
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return [(job.get("template") or {}).get("spec") or {}]
    return []


# patches


def _matches(resource: Resource, target: dict[str, Any]) -> bool:
    for field, value in (
        ("kind", resource.kind),
        ("name", resource.name),
        ("namespace", resource.namespace),
    ):
        if field in target and not re.fullmatch(str(target[field]), value):
            return False
    if "version" in target or "group" in target:
        group, _, version = str(resource.obj.get("apiVersion", "")).rpartition("/")
        if target.get("group", group) != group or target.get("version", version) != version:
            return False
    if selector := target.get("labelSelector"):
        labels = resource.obj.get("metadata", {}).get("labels") or {}
        for term in str(selector).split(","):
            key, _, value = term.partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
    return True


def _apply_patch(
    resources: list[Resource], patch: dict[str, Any], directory: Path, where: Path
) -> None:
    try:
        _apply_one_patch(resources, patch, directory, where)
    except PatchError as error:
        raise KustomizeError(f"{where}: {error}") from None


def _apply_one_patch(
    resources: list[Resource], patch: dict[str, Any], directory: Path, where: Path
) -> None:
    if "path" in patch:
        text = (directory / str(patch["path"])).read_text()
    elif "patch" in patch:
        text = str(patch["patch"])
    else:
        raise KustomizeError(f"{where}: a patch needs path or patch")
    body = yaml.safe_load(text)
    target = patch.get("target")
    if isinstance(body, list):
        if not target:
            raise KustomizeError(f"{where}: a JSON 6902 patch needs a target")
        chosen = [r for r in resources if _matches(r, target)]
        for resource in chosen:
            resource.obj = json6902(resource.obj, body)
    elif isinstance(body, dict):
        if not target:
            meta = body.get("metadata") or {}
            target = {"kind": body.get("kind"), "name": meta.get("name")}
            if "namespace" in meta:
                target["namespace"] = meta["namespace"]
            target = {k: re.escape(str(v)) for k, v in target.items()}
        chosen = [r for r in resources if _matches(r, target)]
        deleting = body.get("$patch") == "delete"
        if deleting:
            resources[:] = [r for r in resources if r not in chosen]
        for resource in [] if deleting else chosen:
            merged = strategic_merge(resource.obj, body)
            # The patch names its target; it never renames it.
            merged["metadata"]["name"] = resource.name
            if resource.namespace:
                merged["metadata"]["namespace"] = resource.namespace
            resource.obj = merged
    else:
        raise KustomizeError(f"{where}: a patch is neither a map nor a list of operations")
    if not chosen:
        raise KustomizeError(f"{where}: patch target {target} matches no resource")


# transformers


def _set_namespace(resources: list[Resource], namespace: str, where: Path) -> None:
    for resource in resources:
        if resource.kind == "Namespace":
            if resource.name != namespace:
                raise KustomizeError(
                    f"{where}: renaming Namespace {resource.name} to {namespace} not supported"
                )
            continue
        if resource.kind in CLUSTER_SCOPED:
            continue
        resource.obj["metadata"]["namespace"] = namespace


def _put(obj: dict[str, Any], path: tuple[str, ...], pairs: dict[str, str], create: bool) -> None:
    node = obj
    for part in path:
        if not isinstance(node, dict):
            return
        if part not in node:
            if not create:
                return
            node[part] = {}
        node = node[part]
    if isinstance(node, dict):
        node.update(pairs)


def _add_labels(
    resources: list[Resource], pairs: dict[str, str], *, selectors: bool, templates: bool
) -> None:
    """kustomize's label field specs (api/konfig/builtinpluginconsts/commonlabels.go) for the
    kinds these manifests use."""
    for resource in resources:
        obj, kind = resource.obj, resource.kind
        _put(obj, ("metadata", "labels"), pairs, create=True)
        if templates and kind in POD_TEMPLATE_KINDS:
            _put(obj, ("spec", "template", "metadata", "labels"), pairs, create=True)
        if not selectors:
            continue
        if kind == "StatefulSet":
            for claim in obj["spec"].get("volumeClaimTemplates") or []:
                _put(claim, ("metadata", "labels"), pairs, create=True)
        if kind == "Service":
            _put(obj, ("spec", "selector"), pairs, create=True)
        elif kind in WORKLOADS_WITH_SELECTOR:
            _put(obj, ("spec", "selector", "matchLabels"), pairs, create=True)
        elif kind == "PodDisruptionBudget":
            _put(obj, ("spec", "selector", "matchLabels"), pairs, create=False)
        elif kind == "NetworkPolicy":
            spec = obj.get("spec") or {}
            _put(spec, ("podSelector", "matchLabels"), pairs, create=False)
            for rule in [*(spec.get("ingress") or []), *(spec.get("egress") or [])]:
                for peer in [*(rule.get("from") or []), *(rule.get("to") or [])]:
                    _put(peer, ("podSelector", "matchLabels"), pairs, create=False)


def _add_annotations(resources: list[Resource], pairs: dict[str, str]) -> None:
    for resource in resources:
        _put(resource.obj, ("metadata", "annotations"), pairs, create=True)
        if resource.kind in POD_TEMPLATE_KINDS:
            _put(resource.obj, ("spec", "template", "metadata", "annotations"), pairs, True)


def _set_replicas(resources: list[Resource], replica: dict[str, Any], where: Path) -> None:
    chosen = [
        r
        for r in resources
        if r.name == replica.get("name")
        and r.kind in ("Deployment", "ReplicaSet", "StatefulSet", "ReplicationController")
    ]
    if not chosen:
        raise KustomizeError(f"{where}: replicas for {replica.get('name')!r}: no such workload")
    for resource in chosen:
        resource.obj["spec"]["replicas"] = int(replica["count"])


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    name = str(image["name"])
    for resource in resources:
        for pod in _pod_specs(resource.obj):
            for container in _containers(pod):
                current = str(container.get("image", ""))
                base = re.split(r"@|:(?=[^/]*$)", current, maxsplit=1)[0]
                if base != name:
                    continue
                new = str(image.get("newName", base))
                if digest := image.get("digest"):
                    container["image"] = f"{new}@{digest}"
                elif tag := image.get("newTag"):
                    container["image"] = f"{new}:{tag}"
                else:
                    container["image"] = new + current[len(base) :]


def _output_order(resource: Resource) -> tuple[int, str, str, str]:
    """kustomize's legacy order: by kind rank, then group_version_kind, namespace, name, where
    a missing group, namespace or name sorts last ("~G", "~X", "~N")."""
    kind = resource.kind
    if kind in ORDER_FIRST:
        rank = ORDER_FIRST.index(kind) - len(ORDER_FIRST)
    elif kind in ORDER_LAST:
        rank = 1 + ORDER_LAST.index(kind)
    else:
        rank = 0
    group, _, version = str(resource.obj.get("apiVersion", "")).rpartition("/")
    gvk = "_".join((group or "~G", version or "~V", kind or "~K"))
    return (rank, gvk, resource.namespace or "~X", resource.name or "~N")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path, help="a directory with a kustomization.yaml")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(to_yaml(render(args.directory)))
    except KustomizeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
