"""The routing config file: what each way of writing a deployment means, and the error that
says where a bad file is wrong (a bad file stops the service at start, not at a call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.providers.routing_config import (
    DeploymentSpec,
    NamedProvider,
    RoutingConfig,
    RoutingConfigError,
    load_routing_config,
    parse_routing_config,
)

VLLM = {"vllm": {"base_url": "http://gpu:8000/v1"}}


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        pytest.param(
            {"fast": "anthropic/claude-haiku-4-5"},
            (DeploymentSpec("anthropic", "claude-haiku-4-5"),),
            id="one-string",
        ),
        pytest.param(
            {"smart": ["anthropic/claude-sonnet-4-6", "openai/gpt-4.1"]},
            (
                DeploymentSpec("anthropic", "claude-sonnet-4-6", priority=0),
                DeploymentSpec("openai", "gpt-4.1", priority=1),
            ),
            id="list-priority-is-position",
        ),
        pytest.param(
            {"bare": ["gpt-4o"]},
            (DeploymentSpec("", "gpt-4o"),),
            id="bare-name-routes-by-family",
        ),
        pytest.param(
            {"deep": ["vllm/meta-llama/Llama-3.1-8B"]},
            (DeploymentSpec("vllm", "meta-llama/Llama-3.1-8B"),),
            id="model-with-slashes",
        ),
        pytest.param(
            {
                "balanced": [
                    {"provider": "openai", "model": "gpt-4o", "weight": 3, "priority": 0},
                    {"provider": "vllm", "model": "llama", "weight": 0.5, "priority": 0},
                ]
            },
            (
                DeploymentSpec("openai", "gpt-4o", weight=3.0, priority=0),
                DeploymentSpec("vllm", "llama", weight=0.5, priority=0),
            ),
            id="weights",
        ),
        pytest.param(
            {
                "eu": {
                    "provider": "openai",
                    "model": "o3",
                    "base_url": "https://eu.example/v1",
                    "api_key_env": "EU_KEY",
                    "api": "responses",
                }
            },
            (
                DeploymentSpec(
                    "openai",
                    "o3",
                    base_url="https://eu.example/v1",
                    api_key_env="EU_KEY",
                    api="responses",
                ),
            ),
            id="mapping-with-everything",
        ),
    ],
)
def test_deployments_as_written(models: dict[str, Any], expected: tuple[DeploymentSpec, ...]):
    config = parse_routing_config({"providers": VLLM, "models": models})
    (specs,) = config.models.values()
    assert specs == expected


def test_named_providers():
    config = parse_routing_config(
        {
            "providers": {
                "vllm": {"base_url": "http://gpu:8000/v1", "api_key_env": "VLLM_KEY"},
                "lmstudio": {"base_url": "http://127.0.0.1:1234/v1", "api": "responses"},
            }
        }
    )
    assert config.providers == {
        "vllm": NamedProvider("vllm", "http://gpu:8000/v1", "VLLM_KEY", "chat"),
        "lmstudio": NamedProvider("lmstudio", "http://127.0.0.1:1234/v1", "", "responses"),
    }
    assert config.models == {}


@pytest.mark.parametrize(
    ("document", "where"),
    [
        pytest.param(["a list"], "the routing config", id="not-a-mapping"),
        pytest.param({"aliases": {}}, "aliases", id="unknown-top-level-key"),
        pytest.param({"models": {"x": []}}, "models.x", id="empty-list"),
        pytest.param({"models": {"x": ["nope/m"]}}, "models.x[0]", id="unknown-provider"),
        pytest.param({"models": {"x": ["openai/"]}}, "models.x[0]", id="no-model"),
        pytest.param({"models": {"x": [{"provider": "openai"}]}}, "models.x[0]", id="no-model-key"),
        pytest.param(
            {"models": {"x": [{"provider": "openai", "model": "m", "wieght": 2}]}},
            "wieght",
            id="misspelt-key",
        ),
        pytest.param(
            {"models": {"x": [{"provider": "openai", "model": "m", "weight": 0}]}},
            "models.x[0].weight",
            id="zero-weight",
        ),
        pytest.param(
            {"models": {"x": [{"provider": "openai", "model": "m", "weight": True}]}},
            "models.x[0].weight",
            id="bool-weight",
        ),
        pytest.param(
            {"models": {"x": [{"provider": "openai", "model": "m", "weight": float("inf")}]}},
            "models.x[0].weight",
            id="infinite-weight",
        ),
        pytest.param(
            {"models": {"x": [{"provider": "openai", "model": "m", "priority": "1"}]}},
            "models.x[0].priority",
            id="string-priority",
        ),
        pytest.param(
            {"models": {"x": [{"provider": "openai", "model": "m", "api": "completions"}]}},
            "models.x[0].api",
            id="unknown-api",
        ),
        pytest.param(
            {"models": {"x": [{"provider": "anthropic", "model": "m", "api": "responses"}]}},
            "models.x[0].api",
            id="responses-on-anthropic",
        ),
        pytest.param(
            {"providers": {"openai": {"base_url": "u"}}}, "providers.openai", id="builtin"
        ),
        pytest.param({"providers": {"a/b": {"base_url": "u"}}}, "providers.a/b", id="slash-name"),
        pytest.param({"providers": {"v": {}}}, "providers.v.base_url", id="no-base-url"),
        pytest.param(
            {"providers": {"v": {"base_url": 8000}}}, "providers.v.base_url", id="int-url"
        ),
    ],
)
def test_a_bad_config_names_the_place(document: Any, where: str):
    with pytest.raises(RoutingConfigError) as caught:
        parse_routing_config(document)
    assert where in str(caught.value)


def test_load_reads_yaml_from_the_path(tmp_path: Path):
    path = tmp_path / "routing.yaml"
    path.write_text(
        "providers:\n"
        "  ollama: {base_url: 'http://127.0.0.1:11434/v1'}\n"
        "models:\n"
        "  local-llama: ollama/llama3\n"
        "  smart:\n"
        "    - anthropic/claude-sonnet-4-6\n"
        "    - {provider: ollama, model: qwen3, weight: 2}\n"
    )
    config = load_routing_config(str(path))
    assert config.models["local-llama"] == (DeploymentSpec("ollama", "llama3"),)
    assert config.models["smart"][1] == DeploymentSpec("ollama", "qwen3", weight=2.0, priority=1)


@pytest.mark.parametrize("text", ["", "# nothing yet\n"], ids=["empty", "comment-only"])
def test_an_empty_file_is_an_empty_config(tmp_path: Path, text: str):
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    assert load_routing_config(str(path)) == RoutingConfig()


def test_no_path_is_an_empty_config():
    assert load_routing_config("") == RoutingConfig()


@pytest.mark.parametrize(
    ("text", "says"),
    [("models: [unclosed\n", "not valid YAML"), ("models:\n  x: nope/m\n", "models.x[0]")],
    ids=["bad-yaml", "bad-entry"],
)
def test_load_errors_name_the_file(tmp_path: Path, text: str, says: str):
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(RoutingConfigError) as caught:
        load_routing_config(str(path))
    assert str(path) in str(caught.value) and says in str(caught.value)


def test_a_missing_file_is_an_error(tmp_path: Path):
    with pytest.raises(RoutingConfigError) as caught:
        load_routing_config(str(tmp_path / "absent.yaml"))
    assert "absent.yaml" in str(caught.value)
