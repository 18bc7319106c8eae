"""Model routing: names to deployments, and the 404 that says which key is missing."""

from __future__ import annotations

import pytest

from rhone.errors import RhoneError
from services.providers.config import ProvidersSettings
from services.providers.routing import OPENAI_DEFAULT_BASE_URL, route


def settings(**env: str) -> ProvidersSettings:
    return ProvidersSettings.model_validate(env)


@pytest.mark.parametrize("model", ["local", "local/tiny"])
def test_local_names_route_to_the_local_model(model: str):
    (deployment,) = route(model, settings())
    assert (deployment.provider, deployment.model) == ("local", model)


@pytest.mark.parametrize(
    ("model", "upstream"),
    [
        ("gpt-4o", "gpt-4o"),
        ("o3-mini", "o3-mini"),
        ("o1", "o1"),
        ("o4-mini", "o4-mini"),
        ("openai/my-model", "my-model"),
    ],
)
def test_openai_family_routes_to_openai_with_the_key(model: str, upstream: str):
    (deployment,) = route(model, settings(OPENAI_API_KEY="sk-test"))
    assert deployment.provider == "openai"
    assert deployment.model == upstream
    assert deployment.base_url == OPENAI_DEFAULT_BASE_URL
    assert "sk-test" not in repr(deployment)


def test_openai_base_url_is_used_when_set():
    (deployment,) = route(
        "gpt-4o", settings(OPENAI_API_KEY="k", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    )
    assert deployment.base_url == "http://127.0.0.1:9/v1"


def test_openai_without_key_is_404_naming_the_key():
    with pytest.raises(RhoneError) as caught:
        route("gpt-4o", settings())
    failure = caught.value.failure
    assert failure.detail == "model_not_found"
    assert "OPENAI_API_KEY" in failure.message


def test_unknown_model_is_404_model_not_found():
    with pytest.raises(RhoneError) as caught:
        route("no-such-model", settings(OPENAI_API_KEY="k"))
    assert caught.value.failure.detail == "model_not_found"
    assert "no-such-model" in caught.value.failure.message
