"""A steady load of chat calls, streamed and whole, across many sessions, through the official
OpenAI SDK (no client retries: what the cluster hides must be hidden by the cluster itself).

Each worker owns its sessions and runs one call at a time, so no call ever waits on another's
lease, and every answer says which user turn it is: a turn recorded by a call that failed, or
lost by one that succeeded, shows in the next answer of that session."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import openai
import orjson


@dataclass(slots=True)
class Outcome:
    session: str
    stream: bool
    facade: str
    started_at: float
    ended_at: float
    ok: bool
    # A stream that failed after its first chunk reached the client.
    streaming: bool = False
    # How it failed: the SDK's exception class (and HTTP status when there is one).
    error: str = ""


@dataclass
class Load:
    facades: list[str]
    api_key: str
    workers: int = 10
    sessions_per_worker: int = 3
    # Streamed calls ask for a long answer, whole ones a one-token answer: a call open on a
    # replica for long is a stream.
    stream_words: int = 40
    # Every call begins a session of its own (none named): nothing a dead translator's
    # lease could block; ok_per_session[""] counts them.
    sessionless: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    ok_per_session: Counter[str] = field(default_factory=Counter)
    # Answers whose turn number was not the session's successful calls + 1.
    wrong_turns: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        count = self.workers * self.sessions_per_worker
        sessions = [""] * count if self.sessionless else await self._create_sessions(count)
        for i in range(self.workers):
            mine = sessions[i * self.sessions_per_worker : (i + 1) * self.sessions_per_worker]
            self._tasks.append(asyncio.create_task(self._worker(i, mine)))

    async def stop(self) -> None:
        """Lets every call in flight end, and starts none."""
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _create_sessions(self, count: int) -> list[str]:
        headers = {"authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(base_url=self.facades[0], headers=headers) as http:
            replies = [await http.post("/v1/sessions", json={}) for _ in range(count)]
        return [reply.raise_for_status().json()["id"] for reply in replies]

    async def _worker(self, index: int, sessions: list[str]) -> None:
        clients = [
            openai.AsyncOpenAI(base_url=url + "/v1", api_key=self.api_key, max_retries=0)
            for url in self.facades
        ]
        turns = itertools.count()
        while not self._stop.is_set():
            n = next(turns)
            # Facades and sessions in rotation, streamed and whole calls alternating.
            facade = (index + n) % len(clients)
            session = sessions[n % len(sessions)]
            stream = (index + n) % 2 == 0
            await self._call(clients[facade], self.facades[facade], session, stream=stream)
        for client in clients:
            await client.close()

    async def _call(
        self, client: openai.AsyncOpenAI, facade: str, session: str, *, stream: bool
    ) -> None:
        expected = self.ok_per_session[session] + 1 if session else 1
        outcome = Outcome(session, stream, facade, time.monotonic(), 0.0, False)
        extra = {"rhone": {"session_id": session}} if session else None
        try:
            if stream:
                # A long answer (the local model repeats the message), word by word.
                words = " ".join(["more"] * self.stream_words)
                text = ""
                chunks = await client.chat.completions.create(
                    model="local",
                    messages=[{"role": "user", "content": f"call {expected} {words}"}],
                    stream=True,
                    extra_body=extra,
                )
                async for chunk in chunks:
                    outcome.streaming = True
                    if chunk.choices:
                        text += chunk.choices[0].delta.content or ""
                # Every prose answer ends so; one that does not was cut short without an error.
                outcome.ok = text.endswith('".')
                turn = int(text.split("This is user turn ")[1].split(";")[0]) if outcome.ok else 0
            else:
                # A one-token answer (a JSON object with no space in it), so a whole call is
                # short next to a stream.
                completion = await client.chat.completions.create(
                    model="local",
                    messages=[{"role": "user", "content": f"call-{expected}"}],
                    response_format={"type": "json_object"},
                    extra_body=extra,
                )
                text = completion.choices[0].message.content or ""
                turn = int(orjson.loads(text)["user_turns"])
                outcome.ok = True
            outcome.error = "" if outcome.ok else "truncated"
        except openai.APIStatusError as exc:
            outcome.error = f"{type(exc).__name__} {exc.status_code}"
        except openai.APIError as exc:
            outcome.error = type(exc).__name__
        except httpx.HTTPError as exc:
            outcome.error = f"broken connection ({type(exc).__name__})"
        outcome.ended_at = time.monotonic()
        if outcome.ok:
            self.ok_per_session[session] += 1
            if turn != expected:
                self.wrong_turns.append(f"{session}: expected turn {expected}: {text!r}")
        self.outcomes.append(outcome)

    # -- what a phase of the test looks at

    def ended_between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.ended_at < end]

    def failures_since(self, start: float) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok and o.ended_at >= start]

    async def wait_ok(self, count: int, *, since: float, within_s: float = 60) -> float:
        """Until `count` calls begun after `since` have succeeded; returns when that was."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            done = [o for o in self.outcomes if o.ok and o.started_at >= since]
            if len(done) >= count:
                return sorted(o.ended_at for o in done)[count - 1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {count} calls succeeded within {within_s}s")
