"""gRPC client channels: one long-lived channel per peer per process.

gRPC runs over long-lived HTTP/2 connections, so in Kubernetes a peer is a headless Service and
its target a `dns:///` name: the round_robin policy spreads calls over every pod the name
resolves to (with pick_first, one pod would take all the traffic)."""

from __future__ import annotations

import json

import grpc

from rhone.observability.grpc_hooks import PropagatingChannel
from rhone.runtime.grpc_server import FLOW_CONTROL_OPTIONS, MAX_MESSAGE_BYTES
from rhone.runtime.lane_client import Lanes, policies
from rhone.runtime.service_identity import ServiceIdentity
from rhone.runtime.settings import ServingSettings

# A streamed call that has not yet received its first message is retried on another replica
# when it fails UNAVAILABLE: the pod was killed, or refused it while draining. gRPC commits a
# call (no more retries) as soon as the first response message or header arrives, so once the
# translator has sent its head, or a provider its first event, nothing is ever sent twice
# (https://github.com/grpc/proposal/blob/master/A6-client-retries.md). Each attempt is a new
# pick, so round_robin sends it to the next pod.
RETRY_BEFORE_FIRST_MESSAGE = {
    "maxAttempts": 4,
    "initialBackoff": "0.05s",
    "maxBackoff": "1s",
    "backoffMultiplier": 3,
    "retryableStatusCodes": ["UNAVAILABLE"],
}

# While the sessions service restarts (a rolling deploy), its short calls wait for it, within
# their deadline (5 s when the caller names none: DEFAULT_TIMEOUTS), instead of failing at
# once. Calls to the translator and providers fail fast instead (a 503 the SDKs retry): they
# stream for minutes, and no deadline could bound the wait.
SERVICE_CONFIG = {
    "methodConfig": [
        {"name": [{"service": "rhone.v1.SessionService"}], "waitForReady": True},
        {
            "name": [
                {"service": "rhone.v1.TranslatorService"},
                {"service": "rhone.v1.ProviderService"},
            ],
            "retryPolicy": RETRY_BEFORE_FIRST_MESSAGE,
        },
    ],
    # Many failures at once (a whole zone gone) stop the retries instead of doubling the load.
    "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.2},
}

# The deadline of a call whose caller names none, by service. Not the service config's
# `timeout`, which gRPC takes as the most a call may have: a commit of a long answer may need
# more (services/translator/commit_batch.py).
DEFAULT_TIMEOUTS = {"rhone.v1.SessionService": 5.0}

# Each method's policy: the service config (which calls on lanes do not go through,
# rhone/runtime/lane_client.py) and the default deadlines.
CALL_POLICIES = policies(SERVICE_CONFIG, DEFAULT_TIMEOUTS)

CHANNEL_OPTIONS = [
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.enable_retries", 1),
    # A retried call keeps its request until it is committed; a body may be this large.
    ("grpc.per_rpc_retry_buffer_size", MAX_MESSAGE_BYTES),
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),
    *FLOW_CONTROL_OPTIONS,
]


def open_channel(target: str, identity: ServiceIdentity | None = None) -> grpc.aio.Channel:
    """A channel to a peer service that proves this service's identity (mTLS when the TLS
    settings are given, the service token in every call's metadata when one is set), and
    whose calls carry the caller's ids and trace context (PropagatingChannel). No client
    interceptor: grpc.aio would run every streamed message of every call through it."""
    identity = identity or ServiceIdentity.from_settings()
    if identity.tls is not None:
        channel = grpc.aio.secure_channel(
            target, identity.channel_credentials(), options=CHANNEL_OPTIONS
        )
    else:
        channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    lanes = (
        Lanes(channel, identity.metadata(), CALL_POLICIES) if ServingSettings().grpc_lanes else None
    )
    return PropagatingChannel(  # type: ignore[return-value]
        channel, identity.metadata(), lanes, CALL_POLICIES
    )
