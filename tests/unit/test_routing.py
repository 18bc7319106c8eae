"""Model routing: names to deployments (families, explicit providers, aliases of the routing
config, named OpenAI-compatible servers), weights, and the 404 that says which key is missing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from rhone.errors import Code, RhoneError
from services.providers.config import ProvidersSettings
from services.providers.routing import (
    ANTHROPIC_DEFAULT_BASE_URL,
    GEMINI_DEFAULT_BASE_URL,
    OPENAI_COMPATIBLE,
    OPENAI_DEFAULT_BASE_URL,
    OPENAI_RESPONSES,
    Deployment,
    Router,
    weighted_order,
)
from services.providers.routing_config import parse_routing_config


def settings(**env: str) -> ProvidersSettings:
    return ProvidersSettings.model_validate(env)


@pytest.mark.parametrize("model", ["local", "local/tiny"])
def test_local_names_route_to_the_local_model(model: str):
    (deployment,) = Router(settings()).route(model)
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
    (deployment,) = Router(settings(OPENAI_API_KEY="sk-test")).route(model)
    assert deployment.provider == "openai"
    assert deployment.model == upstream
    assert deployment.base_url == OPENAI_DEFAULT_BASE_URL
    assert "sk-test" not in repr(deployment)


def test_openai_base_url_is_used_when_set():
    (deployment,) = Router(
        settings(OPENAI_API_KEY="k", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    ).route("gpt-4o")
    assert deployment.base_url == "http://127.0.0.1:9/v1"


def test_openai_without_key_is_404_naming_the_key():
    with pytest.raises(RhoneError) as caught:
        Router(settings()).route("gpt-4o")
    failure = caught.value.failure
    assert failure.detail == "model_not_found"
    assert "OPENAI_API_KEY" in failure.message


def test_unknown_model_is_404_model_not_found():
    with pytest.raises(RhoneError) as caught:
        Router(settings(OPENAI_API_KEY="k")).route("no-such-model")
    assert caught.value.failure.detail == "model_not_found"
    assert "no-such-model" in caught.value.failure.message


# -- every provider: families, explicit names, missing keys -------------------------------------

ALL_KEYS = {
    "OPENAI_API_KEY": "sk-openai",
    "ANTHROPIC_API_KEY": "sk-ant",
    "GEMINI_API_KEY": "AIza-gemini",
    "VERTEX_API_KEY": "AQ-vertex",
}


@pytest.mark.parametrize(
    ("model", "provider", "upstream", "base_url", "key"),
    [
        (
            "claude-sonnet-4-6",
            "anthropic",
            "claude-sonnet-4-6",
            ANTHROPIC_DEFAULT_BASE_URL,
            "sk-ant",
        ),
        ("anthropic/claude-x", "anthropic", "claude-x", ANTHROPIC_DEFAULT_BASE_URL, "sk-ant"),
        ("gemini-2.5-flash", "gemini", "gemini-2.5-flash", GEMINI_DEFAULT_BASE_URL, "AIza-gemini"),
        ("gemini/gemma-3", "gemini", "gemma-3", GEMINI_DEFAULT_BASE_URL, "AIza-gemini"),
        (
            "vertex/gemini-2.5-pro",
            "vertex",
            "gemini-2.5-pro",
            "https://aiplatform.googleapis.com",
            "AQ-vertex",
        ),
        ("chatgpt-4o-latest", "openai", "chatgpt-4o-latest", OPENAI_DEFAULT_BASE_URL, "sk-openai"),
    ],
)
def test_each_provider_routes_by_family_or_explicit_name(
    model: str, provider: str, upstream: str, base_url: str, key: str
):
    (deployment,) = Router(settings(**ALL_KEYS)).route(model)
    assert (deployment.provider, deployment.model) == (provider, upstream)
    assert (deployment.base_url, deployment.api_key) == (base_url, key)
    assert deployment.connector_name == provider
    assert key not in repr(deployment)


@pytest.mark.parametrize(
    ("model", "env_var"),
    [
        ("claude-sonnet-4-6", "ANTHROPIC_API_KEY"),
        ("anthropic/claude-x", "ANTHROPIC_API_KEY"),
        ("gemini-2.5-flash", "GEMINI_API_KEY"),
        ("gemini/gemini-2.5-flash", "GEMINI_API_KEY"),
        ("vertex/gemini-2.5-flash", "VERTEX_API_KEY"),
        ("openai/gpt-4o", "OPENAI_API_KEY"),
    ],
)
def test_a_provider_without_its_key_is_404_naming_the_variable(model: str, env_var: str):
    with pytest.raises(RhoneError) as caught:
        Router(settings()).route(model)
    failure = caught.value.failure
    assert (failure.code, failure.detail, failure.param) == (
        Code.ERROR_CODE_NOT_FOUND,
        "model_not_found",
        "model",
    )
    assert f"'{model}'" in failure.message and env_var in failure.message


def test_base_urls_come_from_the_environment():
    env = {
        **ALL_KEYS,
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
        "GEMINI_BASE_URL": "http://127.0.0.1:2",
        "VERTEX_BASE_URL": "http://127.0.0.1:3",
    }
    assert Router(settings(**env)).route("claude-x")[0].base_url == "http://127.0.0.1:1"
    assert Router(settings(**env)).route("gemini-x")[0].base_url == "http://127.0.0.1:2"
    assert Router(settings(**env)).route("vertex/gemini-x")[0].base_url == "http://127.0.0.1:3"


@pytest.mark.parametrize(
    ("env", "provider"),
    [
        ({"VERTEX_API_KEY": "k"}, "vertex"),
        ({"VERTEX_PROJECT": "p"}, "vertex"),
        ({"GEMINI_API_KEY": "k", "VERTEX_API_KEY": "k"}, "gemini"),
        ({"GEMINI_API_KEY": "k"}, "gemini"),
    ],
    ids=["vertex-express-only", "vertex-project-only", "both", "gemini-only"],
)
def test_gemini_family_goes_to_vertex_only_when_only_vertex_is_configured(
    env: dict[str, str], provider: str
):
    assert Router(settings(**env)).route("gemini-2.5-flash")[0].provider == provider


@pytest.mark.parametrize(
    ("env", "base_url", "key"),
    [
        (
            {"VERTEX_PROJECT": "p", "VERTEX_LOCATION": "us-central1"},
            "https://us-central1-aiplatform.googleapis.com",
            "",
        ),
        (
            {"VERTEX_PROJECT": "p", "VERTEX_LOCATION": "global"},
            "https://aiplatform.googleapis.com",
            "",
        ),
        ({"VERTEX_PROJECT": "p"}, "https://aiplatform.googleapis.com", ""),
        # Express mode always uses the global endpoint, whatever the location says.
        (
            {"VERTEX_API_KEY": "AQ-k", "VERTEX_LOCATION": "us-east5"},
            "https://aiplatform.googleapis.com",
            "AQ-k",
        ),
    ],
    ids=["project-regional", "project-global", "project-default-location", "express"],
)
def test_vertex_endpoint_follows_the_mode_and_location(
    env: dict[str, str], base_url: str, key: str
):
    (deployment,) = Router(settings(**env)).route("vertex/gemini-2.5-pro")
    assert (deployment.base_url, deployment.api_key) == (base_url, key)


def test_unknown_provider_prefix_is_not_a_provider():
    with pytest.raises(RhoneError) as caught:
        Router(settings(**ALL_KEYS)).route("meta-llama/Llama-3-8B")
    assert caught.value.failure.detail == "model_not_found"


# -- the routing config: aliases, named servers, api, weights -----------------------------------

CONFIG = parse_routing_config(
    {
        "providers": {
            "vllm": {"base_url": "http://gpu:8000/v1", "api_key_env": "VLLM_KEY"},
            "ollama": {"base_url": "http://127.0.0.1:11434/v1"},
            "vllm-responses": {"base_url": "http://gpu:8001/v1", "api": "responses"},
        },
        "models": {
            "smart": ["anthropic/claude-sonnet-4-6", "openai/gpt-4.1", "ollama/llama3"],
            "reasoner": [{"provider": "openai", "model": "o3", "api": "responses"}],
            "eu": [
                {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "base_url": "https://eu.example/v1",
                    "api_key_env": "OPENAI_EU_KEY",
                }
            ],
            "gpt-4o": ["ollama/llama3"],  # an alias shadows the family
            "by-family": ["claude-haiku-4-5"],
            "locked": ["vllm/llama-70b"],
        },
    }
)


def router(env: dict[str, str] | None = None, **keys: str) -> Router:
    return Router(settings(**keys), CONFIG, env or {})


def test_alias_lists_its_deployments_in_order():
    deployments = router(**ALL_KEYS).route("smart")
    assert [(d.provider, d.model) for d in deployments] == [
        ("anthropic", "claude-sonnet-4-6"),
        ("openai", "gpt-4.1"),
        ("ollama", "llama3"),
    ]
    assert [d.connector_name for d in deployments] == ["anthropic", "openai", OPENAI_COMPATIBLE]


def test_alias_leaves_out_deployments_without_their_key():
    deployments = router(OPENAI_API_KEY="sk").route("smart")
    assert [d.provider for d in deployments] == ["openai", "ollama"]


def test_alias_with_no_configured_deployment_is_404_listing_what_is_missing():
    with pytest.raises(RhoneError) as caught:
        router().route("locked")
    failure = caught.value.failure
    assert failure.detail == "model_not_found"
    assert "'locked'" in failure.message and "VLLM_KEY" in failure.message


def test_named_server_takes_its_key_from_its_env_var():
    (deployment,) = router({"VLLM_KEY": "vk-1"}).route("vllm/llama-70b")
    assert (deployment.provider, deployment.model) == ("vllm", "llama-70b")
    assert (deployment.base_url, deployment.api_key) == ("http://gpu:8000/v1", "vk-1")
    assert deployment.connector_name == OPENAI_COMPATIBLE


def test_named_server_without_a_key_env_needs_no_key():
    (deployment,) = router().route("ollama/qwen3:8b")
    assert (deployment.provider, deployment.model, deployment.api_key) == ("ollama", "qwen3:8b", "")


def test_named_server_whose_key_is_unset_is_404_naming_the_variable():
    with pytest.raises(RhoneError) as caught:
        router().route("vllm/llama-70b")
    assert "VLLM_KEY" in caught.value.failure.message


@pytest.mark.parametrize(
    ("model", "provider"), [("reasoner", "openai"), ("vllm-responses/qwen3", "vllm-responses")]
)
def test_api_responses_uses_the_responses_connector(model: str, provider: str):
    (deployment,) = router(OPENAI_API_KEY="sk").route(model)
    assert deployment.provider == provider
    assert deployment.connector_name == OPENAI_RESPONSES


def test_deployment_base_url_and_key_env_override_the_providers():
    (deployment,) = router({"OPENAI_EU_KEY": "sk-eu"}).route("eu")
    assert (deployment.base_url, deployment.api_key) == ("https://eu.example/v1", "sk-eu")


def test_an_alias_shadows_the_family_and_bare_entries_route_by_family():
    assert router(OPENAI_API_KEY="sk").route("gpt-4o")[0].provider == "ollama"
    assert router(ANTHROPIC_API_KEY="k").route("by-family")[0].provider == "anthropic"


def test_model_list_shows_routable_aliases_and_enabled_providers_only():
    listed = dict(router({"VLLM_KEY": "vk"}, ANTHROPIC_API_KEY="k").models())
    assert listed["local"] == "local"
    assert listed["smart"] == "anthropic"  # the provider of its first usable deployment
    assert listed["locked"] == "vllm"
    assert {"anthropic/*", "vllm/*", "ollama/*"} <= set(listed)
    assert "eu" not in listed  # OPENAI_EU_KEY is unset
    assert not {"openai/*", "gemini/*", "vertex/*"} & set(listed)


def test_models_without_config_lists_local_and_keyed_providers():
    assert Router(settings(GEMINI_API_KEY="k")).models() == [
        ("local", "local"),
        ("gemini/*", "gemini"),
    ]


# -- weights -----------------------------------------------------------------------------------


def _deployment(name: str, priority: int, weight: float = 1.0) -> Deployment:
    return Deployment("openai", name, priority=priority, weight=weight)


def test_lower_priority_is_tried_first_and_a_single_tier_keeps_its_order():
    deployments = [_deployment("b", 1), _deployment("a", 0), _deployment("c", 2)]
    ordered = weighted_order(deployments, random.Random(7))
    assert [d.model for d in ordered] == ["a", "b", "c"]


def test_equal_priority_is_weighted_random():
    heavy, light = _deployment("heavy", 0, weight=3), _deployment("light", 0, weight=1)
    rng = random.Random(1234)
    firsts = [weighted_order([light, heavy], rng)[0].model for _ in range(4000)]
    share = firsts.count("heavy") / len(firsts)
    assert 0.72 < share < 0.78  # 3 / (3 + 1), with a seeded generator


@settings_(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.floats(0.01, 100)),
        max_size=8,
    ),
    st.integers(0, 2**32 - 1),
)
def test_weighted_order_is_a_permutation_sorted_by_priority(
    specs: list[tuple[int, float]], seed: int
):
    deployments = [_deployment(str(i), p, w) for i, (p, w) in enumerate(specs)]
    ordered = weighted_order(deployments, random.Random(seed))
    assert sorted(d.model for d in ordered) == sorted(d.model for d in deployments)
    priorities = [d.priority for d in ordered]
    assert priorities == sorted(priorities)


def test_an_alias_entry_of_no_family_is_named_in_the_404():
    config = parse_routing_config({"models": {"odd": ["mystery-model"]}})
    with pytest.raises(RhoneError) as caught:
        Router(settings(**ALL_KEYS), config).route("odd")
    message = caught.value.failure.message
    assert "'odd'" in message and "mystery-model: no provider family matches it" in message


# -- the Google surfaces: aliases first, then the surface's home provider ----------------------

GOOGLE_CONFIG = parse_routing_config(
    {
        "models": {
            "gemini-2.0-flash": ["anthropic/claude-haiku-4-5"],  # an alias named like Gemini
            "offline": ["local"],  # the local model, named bare as a client names it
            "offline-explicit": ["local/local"],
        }
    }
)


@pytest.mark.parametrize("home", ["", "gemini", "vertex"])
def test_an_alias_named_like_a_gemini_model_wins_on_every_surface(home: str):
    routed = Router(settings(**ALL_KEYS), GOOGLE_CONFIG).route("gemini-2.0-flash", home)
    assert [(d.provider, d.model) for d in routed] == [("anthropic", "claude-haiku-4-5")]


@pytest.mark.parametrize(("home", "provider"), [("gemini", "gemini"), ("vertex", "vertex")])
def test_a_gemini_name_no_alias_claims_goes_to_the_surfaces_home(home: str, provider: str):
    (deployment,) = Router(settings(**ALL_KEYS), GOOGLE_CONFIG).route("gemini-2.5-pro", home)
    assert (deployment.provider, deployment.model) == (provider, "gemini-2.5-pro")


def test_the_home_provider_applies_to_the_gemini_family_only():
    assert Router(settings(**ALL_KEYS)).route("claude-x", "vertex")[0].provider == ("anthropic")
    assert Router(settings(**ALL_KEYS)).route("gemini/gemini-2.5-pro", "vertex")[0].provider == (
        "gemini"
    )


@pytest.mark.parametrize("alias", ["offline", "offline-explicit"])
def test_an_alias_may_name_the_local_model_bare_or_by_provider(alias: str):
    (deployment,) = Router(settings(), GOOGLE_CONFIG).route(alias)
    assert deployment.provider == "local"


def test_vertex_surface_without_vertex_but_with_gemini_says_what_to_set():
    with pytest.raises(RhoneError) as caught:
        Router(settings(GEMINI_API_KEY="k")).route("gemini-2.5-flash", "vertex")
    message = caught.value.failure.message
    assert caught.value.failure.detail == "model_not_found"
    assert "VERTEX_API_KEY" in message and "VERTEX_PROJECT" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert "Gemini API surface" in message and "'gemini/gemini-2.5-flash'" in message


def test_gemini_surface_without_gemini_but_with_vertex_says_what_to_set():
    with pytest.raises(RhoneError) as caught:
        Router(settings(VERTEX_API_KEY="k")).route("gemini-2.5-flash", "gemini")
    message = caught.value.failure.message
    assert "GEMINI_API_KEY" in message and "Vertex AI surface" in message
