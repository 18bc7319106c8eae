"""A deployment with the Gemini Developer API as its only Google provider and a compaction model
of its own: the Vertex surface says which variables would enable Vertex (google-genai, express
and project modes), and compaction summaries come from the configured model."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import orjson
import pytest
from google import genai
from google.genai import errors

from rhone.launcher import Cluster, Ports
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.scenarios import Text
from tests.integration.conftest import API_KEY, UPSTREAM_GEMINI_KEY
from tests.integration.test_google_surfaces import vertex_express, vertex_project


@pytest.fixture(scope="module")
def gemini_only(
    tmp_path_factory: pytest.TempPathFactory, fake_gemini: FakeGemini
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("gemini-only")
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
            "GEMINI_API_KEY": UPSTREAM_GEMINI_KEY,
            "GEMINI_BASE_URL": fake_gemini.base_url,
            "RHONE_COMPACTION_MODEL": "gemini-2.5-flash",
        },
        log_dir=root / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("mode", [vertex_express, vertex_project], ids=["express", "project"])
def test_a_gemini_name_on_the_vertex_surface_says_what_to_set(gemini_only: Cluster, mode):
    client: genai.Client = mode(gemini_only.base_url)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert caught.value.code == 404
    message = caught.value.message or ""
    for variable in ("VERTEX_API_KEY", "VERTEX_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert variable in message
    assert "Gemini is configured" in message


def test_compaction_summaries_come_from_the_configured_model(
    gemini_only: Cluster, fake_gemini: FakeGemini
):
    client = openai.OpenAI(base_url=gemini_only.base_url + "/v1", api_key=API_KEY, max_retries=0)
    first = client.responses.create(model="local", input="My name is Ada.")
    fake_gemini.script(Text(chunks=("Ada introduced herself.",), usage=(30, 4)))
    compacted = client.responses.compact(model="local", previous_response_id=first.id)
    asked = fake_gemini.last_request
    assert "gemini-2.5-flash" in asked.path
    assert "USER: My name is Ada." in orjson.dumps(asked.body).decode()
    assert compacted.usage.output_tokens == 4
    answer = client.responses.create(
        model="local", input=[*compacted.output, {"role": "user", "content": "Who am I?"}]
    )
    assert answer.output_text.startswith('You said: "Who am I?".')
