"""Upstream timeouts: global defaults from the environment, overridden per named provider and
per deployment in the routing config; a wrong value stops the service at start, with its place."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.providers.config import ProvidersSettings
from services.providers.routing import Router
from services.providers.routing_config import RoutingConfigError, parse_routing_config
from services.providers.timeouts import DEFAULT_TIMEOUTS, UpstreamTimeouts

ENV = {"OPENAI_API_KEY": "sk-x", "VLLM_KEY": "v"}


def router(config: dict[str, Any], **env: str) -> Router:
    settings = ProvidersSettings.model_validate({**ENV, **env})
    return Router(settings, parse_routing_config(config), ENV)


def test_defaults_bound_every_wait():
    assert DEFAULT_TIMEOUTS == UpstreamTimeouts(
        connect_s=10.0, first_byte_s=120.0, idle_s=120.0, whole_s=600.0
    )
    (deployment,) = router({}).route("gpt-4o")
    assert deployment.timeouts == DEFAULT_TIMEOUTS


def test_environment_sets_the_global_defaults():
    env = {
        "RHONE_UPSTREAM_CONNECT_TIMEOUT_S": "2",
        "RHONE_UPSTREAM_FIRST_BYTE_TIMEOUT_S": "15",
        "RHONE_UPSTREAM_IDLE_TIMEOUT_S": "30.5",
        "RHONE_UPSTREAM_WHOLE_TIMEOUT_S": "90",
    }
    (deployment,) = router({}, **env).route("gpt-4o")
    assert deployment.timeouts == UpstreamTimeouts(2.0, 15.0, 30.5, 90.0)


def test_a_deployment_overrides_its_named_provider_which_overrides_the_defaults():
    config = {
        "providers": {
            "vllm": {
                "base_url": "http://gpu:8000/v1",
                "api_key_env": "VLLM_KEY",
                "timeouts": {"connect_s": 1, "idle_s": 20},
            }
        },
        "models": {
            "mixed": [
                {"provider": "vllm", "model": "llama", "timeouts": {"idle_s": 5}},
                "vllm/llama",
                {"provider": "openai", "model": "o3", "timeouts": {"first_byte_s": 900}},
            ]
        },
    }
    first, second, third = router(config, RHONE_UPSTREAM_FIRST_BYTE_TIMEOUT_S="30").route("mixed")
    assert first.timeouts == UpstreamTimeouts(1.0, 30.0, 5.0, 600.0)
    assert second.timeouts == UpstreamTimeouts(1.0, 30.0, 20.0, 600.0)
    assert third.timeouts == UpstreamTimeouts(10.0, 900.0, 120.0, 600.0)


@pytest.mark.parametrize(
    ("timeouts", "message"),
    [
        ({"first_byte": 3}, "models.m[0].timeouts: unknown key(s) first_byte"),
        ({"idle_s": 0}, "models.m[0].timeouts.idle_s: must be a positive number"),
        ({"idle_s": "10"}, "models.m[0].timeouts.idle_s: must be a positive number"),
        ({"idle_s": True}, "models.m[0].timeouts.idle_s: must be a positive number"),
        ({"idle_s": float("inf")}, "models.m[0].timeouts.idle_s: must be a positive number"),
        (30, "models.m[0].timeouts: expected a mapping"),
    ],
)
def test_a_wrong_timeout_names_its_place(timeouts: Any, message: str):
    config = {"models": {"m": [{"provider": "openai", "model": "x", "timeouts": timeouts}]}}
    with pytest.raises(RoutingConfigError) as caught:
        parse_routing_config(config)
    assert str(caught.value).startswith(message)


def test_a_wrong_timeout_of_a_named_provider_names_its_place():
    config = {"providers": {"vllm": {"base_url": "http://x", "timeouts": {"connect_s": -1}}}}
    with pytest.raises(RoutingConfigError, match=r"providers\.vllm\.timeouts\.connect_s"):
        parse_routing_config(config)


def test_a_non_positive_environment_default_stops_the_service():
    with pytest.raises(ValidationError):
        ProvidersSettings.model_validate({"RHONE_UPSTREAM_IDLE_TIMEOUT_S": "0"})
