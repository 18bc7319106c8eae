"""A session outlives its sessions process: stop it, start it again, the session continues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from rhone.launcher import Cluster, Ports
from tests.integration.conftest import API_KEY


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("restart")
    cluster = Cluster(
        Ports.free(),
        env={"RHONE_API_KEY": API_KEY, "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db"},
        log_dir=root / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


def test_a_session_continues_after_the_sessions_process_restarts(own_cluster: Cluster):
    client = openai.OpenAI(base_url=own_cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    first = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "before the restart"}]
    )
    session = {"rhone": {"session_id": first.model_extra["rhone"]["session_id"]}}

    own_cluster.stop_service("sessions")
    with pytest.raises(openai.APIStatusError) as down:
        client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "x"}], extra_body=session
        )
    assert down.value.status_code == 503

    own_cluster.start_service("sessions")
    own_cluster.wait_ready(60)
    after = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "after"}], extra_body=session
    )
    assert after.choices[0].message.content == (
        'You said: "after". This is user turn 2; your first message was: "before the restart".'
    )


def test_logs_never_carry_the_api_key(own_cluster: Cluster):
    assert own_cluster.log_dir is not None
    for log in Path(own_cluster.log_dir).glob("*.log"):
        assert API_KEY not in log.read_text(), f"{log.name} leaks the key"


def test_a_listing_while_a_peer_is_down_is_503_not_500(own_cluster: Cluster):
    client = openai.OpenAI(base_url=own_cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    client.models.list()  # the key is now cached by the facade
    own_cluster.stop_service("translator")
    try:
        with pytest.raises(openai.APIStatusError) as down:
            client.models.list()
        assert down.value.status_code == 503
    finally:
        own_cluster.start_service("translator")
        own_cluster.wait_ready(60)
