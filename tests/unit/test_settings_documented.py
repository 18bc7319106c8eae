"""Every setting a service reads is a row of the README's configuration table.

An operator learns what Rhone can be told from that table alone, so a setting missing there is
a setting nobody can find. The settings are collected from the code, not listed here: the
pydantic-settings classes (services/*/config.py, rhone/runtime/settings.py) and every
``os.environ`` / ``os.getenv`` read of a ``RHONE_*`` name in rhone/ and services/."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULES = sorted(
    [
        "rhone.runtime.settings",
        *(f"services.{path.parent.name}.config" for path in ROOT.glob("services/*/config.py")),
    ]
)


def env_names_of(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads: a field's alias, else the class's
    prefix plus the field's name (pydantic-settings is case-insensitive; the README is upper)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        names.add((alias or prefix + name).upper())
    return names


def settings_classes() -> list[type[BaseSettings]]:
    found: dict[str, type[BaseSettings]] = {}
    for module_name in SETTINGS_MODULES:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseSettings) and cls is not BaseSettings:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def environ_reads(source: str) -> set[str]:
    """``RHONE_*`` names read with ``os.environ.get(...)``, ``os.environ[...]``,
    ``os.getenv(...)`` or ``... in os.environ``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and (
                (func.attr in ("get", "pop", "setdefault") and _is_environ(func.value))
                or func.attr == "getenv"
            ):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            key = node.left
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            if key.value.startswith("RHONE_"):
                names.add(key.value)
    return names


def read_settings() -> dict[str, str]:
    """Each setting read, with where it is read (for the failure message)."""
    where: dict[str, str] = {}
    for cls in settings_classes():
        for name in env_names_of(cls):
            where.setdefault(name, f"{cls.__module__}.{cls.__qualname__}")
    for package in ("rhone", "services"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "v1" in path.relative_to(ROOT).parts[:2]:
                continue  # generated stubs
            for name in environ_reads(path.read_text()):
                where.setdefault(name, str(path.relative_to(ROOT)))
    return where


def documented_patterns() -> list[re.Pattern[str]]:
    """The names in the first column of the README's configuration table; a placeholder such
    as ``RHONE_<SERVICE>_LISTEN`` stands for any upper-case word (or for the same placeholder
    in a settings class read with a per-service prefix)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    patterns = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split(" | ", 1)[0]
        for name in re.findall(r"`([A-Z][A-Z0-9_<>]*)`", first_cell):
            regex = re.sub(r"<[A-Z]+>", "(?:[A-Z]+|<[A-Z]+>)", name)
            patterns.append(re.compile(regex + r"\Z"))
    return patterns


def test_the_collector_sees_settings_of_every_kind() -> None:
    """Guards the test itself: a collector that found nothing would pass any README."""
    read = read_settings()
    assert "RHONE_MAX_BODY_BYTES" in read  # a field with the class's prefix (facade)
    assert "RHONE_PROVIDER_TIMEOUT_S" in read  # a field with an alias (providers)
    assert "RHONE_SESSIONS_ADDR" in read  # an inherited field (PeerSettings)
    assert "RHONE_LOG_LEVEL" in read  # an os.environ read (rhone/runtime/logs.py)
    assert environ_reads('import os\nos.getenv("RHONE_X")\n"RHONE_Y" in os.environ') == {
        "RHONE_X",
        "RHONE_Y",
    }
    assert len(documented_patterns()) > 10


def test_every_setting_a_service_reads_is_in_the_readme_table() -> None:
    patterns = documented_patterns()
    missing = {
        name: where
        for name, where in read_settings().items()
        if not any(pattern.match(name) for pattern in patterns)
    }
    assert not missing, (
        "settings read by the code but missing from the README's configuration table: "
        + ", ".join(f"{name} ({where})" for name, where in sorted(missing.items()))
    )
