"""The two patch forms kustomize applies: strategic merge (for the built-in kinds) and JSON 6902.

Strategic merge follows the Kubernetes rules for the fields these manifests use: a map merges
key by key and a `null` value deletes the key; a list whose field has a merge key (containers by
`name`, container ports by `containerPort`, Service ports by `port`, volume mounts by
`mountPath`, ...) merges item by item, any other list is replaced whole; `$patch: delete` removes
a map or list item and `$patch: replace` replaces a map. The merge keys are the
`x-kubernetes-patch-merge-key` values of the Kubernetes API
(https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/).
`$setElementOrder` and `$retainKeys` are not supported and are refused.

JSON 6902 (https://datatracker.ietf.org/doc/html/rfc6902): add, remove, replace, move, copy and
test over JSON pointers (RFC 6901), `-` appending to a list."""

from __future__ import annotations

import copy
from typing import Any

# Field name -> merge key of its items. Container ports and Service ports share the field name
# `ports`, told apart by the keys their items carry.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "topologySpreadConstraints": "topologyKey",
    "hostAliases": "ip",
    "resourceClaims": "name",
}


class PatchError(ValueError):
    """A patch that cannot apply; the message says where."""


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((item for item in items if isinstance(item, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Returns `target` with `patch` merged into it (neither argument is changed)."""
    return _merge_map(copy.deepcopy(target), copy.deepcopy(patch), "")


def _merge_map(target: dict[str, Any], patch: dict[str, Any], where: str) -> dict[str, Any]:
    directive = patch.pop("$patch", None)
    if directive == "replace":
        return patch
    if directive == "delete":
        raise PatchError(f"{where or '/'}: $patch: delete of a whole object is not supported")
    if directive is not None:
        raise PatchError(f"{where}: unknown $patch directive {directive!r}")
    for key, value in patch.items():
        if key.startswith("$"):
            raise PatchError(f"{where}/{key}: directive not supported")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _merge_map(target[key], value, f"{where}/{key}")
        elif isinstance(value, dict):
            value.pop("$patch", None)
            target[key] = value
        elif isinstance(value, list) and isinstance(target.get(key), list):
            target[key] = _merge_list(key, target[key], value, f"{where}/{key}")
        else:
            target[key] = value
    return target


def _merge_list(field: str, target: list[Any], patch: list[Any], where: str) -> list[Any]:
    key = _merge_key(field, target + patch)
    if key is None:
        return [item for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    # kustomize's order: the patch's items first, in the patch's order (merged into the item
    # they name), then the target's items the patch does not name, in their order.
    named: set[Any] = set()
    merged: list[Any] = []
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"{where}: every item needs its merge key {key!r}")
        named.add(item[key])
        old = next((o for o in target if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            continue
        if old is None:
            item.pop("$patch", None)
            merged.append(item)
        else:
            merged.append(_merge_map(old, item, f"{where}[{item[key]}]"))
    merged += [o for o in target if not (isinstance(o, dict) and o.get(key) in named)]
    return merged


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part, path)
    return node, parts[-1]


def _child(node: Any, part: str, path: str) -> Any:
    try:
        if isinstance(node, list):
            return node[int(part)]
        return node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(f"path {path!r} does not exist") from None


def json6902(target: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns `target` with the RFC 6902 operations applied in order."""
    doc = copy.deepcopy(target)
    for op in operations:
        kind, path = op.get("op"), str(op.get("path", ""))
        parts = _pointer(path)
        if not parts:
            raise PatchError(f"{kind} on the whole document is not supported")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} {path}: needs a value")
        if kind == "test":
            if _child(*_parent(doc, parts, path), path) != op["value"]:
                raise PatchError(f"test {path}: value differs")
            continue
        if kind in ("move", "copy"):
            source = _pointer(str(op.get("from", "")))
            holder, last = _parent(doc, source, str(op.get("from")))
            value = copy.deepcopy(_child(holder, last, str(op.get("from"))))
            if kind == "move":
                _remove(holder, last, str(op.get("from")))
            _add(*_parent(doc, parts, path), value, path)
        elif kind == "add":
            _add(*_parent(doc, parts, path), copy.deepcopy(op["value"]), path)
        elif kind == "remove":
            _remove(*_parent(doc, parts, path), path)
        elif kind == "replace":
            holder, last = _parent(doc, parts, path)
            _child(holder, last, path)
            if isinstance(holder, list):
                holder[int(last)] = copy.deepcopy(op["value"])
            else:
                holder[last] = copy.deepcopy(op["value"])
        else:
            raise PatchError(f"unknown JSON patch op {kind!r}")
    return doc


def _add(holder: Any, last: str, value: Any, path: str) -> None:
    if isinstance(holder, list):
        if last == "-":
            holder.append(value)
            return
        index = int(last) if last.isdigit() else -1
        if not 0 <= index <= len(holder):
            raise PatchError(f"add {path}: index out of range")
        holder.insert(index, value)
    elif isinstance(holder, dict):
        holder[last] = value
    else:
        raise PatchError(f"add {path}: parent is not a map or a list")


def _remove(holder: Any, last: str, path: str) -> None:
    _child(holder, last, path)
    if isinstance(holder, list):
        del holder[int(last)]
    else:
        del holder[last]
