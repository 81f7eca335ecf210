"""The proxy's stdio fast path for ``tools/call`` (``_fast``) against the SDK path it stands in for.

Each test runs ``agentguard mcp-proxy`` as a subprocess on pipes in front of the real fixture
server. A call with ``_meta`` stays on the SDK path, the same call without it takes the fast path,
so the two can be compared side by side in one session.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from .conftest import audit_records, calls
from .test_mcp_cli import REPO, proxy_argv

pytestmark = pytest.mark.timeout(180)

RULES = """
p, *, mcp.notes.echo, *, allow
p, *, mcp.notes.write_note, path(path, "{workspace}/**"), allow
p, *, mcp.notes.delete_all, *, deny
p, *, mcp.notes.crash, *, allow
p, *, mcp.notes.server_error, *, allow
p, *, mcp.notes.ask_user, *, allow
p, *, mcp-client.notes.elicitation, *, allow
"""
META = {"agentguard-test": "stay on the SDK path"}


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FIXTURE_LOG": str(tmp_path / "fixture.log"),
        "FIXTURE_STARTS": str(tmp_path / "starts.log"),
    }


def _events(records: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["event"] for r in rs] for rs in calls(records).values() if rs[0]["tool"].startswith("mcp.")]


@asynccontextmanager
async def _client(tmp_path: Path, policy: Path) -> AsyncIterator[ClientSession]:
    argv = proxy_argv(tmp_path / "home", policy, "--approver", "deny")
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=_env(tmp_path), cwd=str(tmp_path))
    with (tmp_path / "stderr.log").open("a") as err:
        async with stdio_client(params, errlog=err) as (r, w), ClientSession(r, w) as client:
            with anyio.fail_after(60):
                await client.initialize()
                yield client


def _text(result: Any) -> str:
    return str(result.content[0].text)


async def test_allow_deny_and_refusals_match_the_sdk_path(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES)
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        cases = [("echo", {"text": "hi"}), ("delete_all", {}), ("echo", {"text": 3}), ("echo", {})]
        for name, arguments in cases:
            sdk = await client.call_tool(name, arguments, meta=META)
            fast = await client.call_tool(name, arguments)
            assert (fast.is_error, fast.structured_content) == (sdk.is_error, sdk.structured_content)
            if not sdk.is_error:
                assert _text(fast) == _text(sdk)
            else:  # the refusal names the same rule or problem; only the call id differs
                assert _text(fast).split("call ")[0] == _text(sdk).split("call ")[0]
    records = audit_records(tmp_path / "home" / "audit.jsonl")
    events = _events(records)
    assert len(events) == 2 * len(cases)
    for i in range(0, len(events), 2):
        assert events[i] == events[i + 1]  # the same audit records for the call, either path
    assert events[0][-1] == "execution.finished"
    assert events[2][-1] == "policy.decided"  # denied: decided, never started
    assert "execution.started" not in events[2]


async def test_the_server_receives_the_decided_arguments(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES)
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        result = await client.call_tool("write_note", {"path": "notes.txt", "content": "x"})
    assert not result.is_error, result
    logged = (tmp_path / "fixture.log").read_text().split()
    assert logged[0] == "write_note"
    assert os.path.isabs(logged[1])  # the path the rule resolved, not the client's text
    assert logged[1].endswith("/notes.txt")


async def test_concurrent_calls_interleave_and_map_back(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES)
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        got: dict[int, str] = {}

        async def one(i: int) -> None:
            got[i] = _text(await client.call_tool("echo", {"text": f"call {i}"}))

        async with anyio.create_task_group() as tg:
            for i in range(30):
                tg.start_soon(one, i)
    assert got == {i: f"call {i}" for i in range(30)}


async def test_an_upstream_crash_is_an_error_result_and_the_next_call_restarts_it(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES)
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        crashed = await client.call_tool("crash", {})
        assert crashed.is_error
        assert "stopped" in _text(crashed) or "unavailable" in _text(crashed).lower()
        await client.list_tools()  # the tool list is read again from the restarted server
        again = await client.call_tool("echo", {"text": "back"})
        assert not again.is_error
        assert _text(again) == "back"


class _Raw:
    """A bare JSON-RPC client on the proxy's pipes, to send ids and lines the SDK client would not."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self._buffer = b""

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        assert self.process.stdin is not None
        await self.process.stdin.send(text.encode() + b"\n")

    async def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            self._buffer += await self.process.stdout.receive()
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    async def answer(self) -> dict[str, Any]:
        """The next response, past any notification or request the proxy sends meanwhile."""
        while True:
            message = await self.receive()
            if "method" not in message:
                return message


@asynccontextmanager
async def _raw(tmp_path: Path, policy: Path, version: str = "2025-06-18") -> AsyncIterator[_Raw]:
    argv = proxy_argv(tmp_path / "home", policy, "--approver", "deny")
    with (tmp_path / "stderr.log").open("a") as err:
        async with await anyio.open_process(
            argv, env=_env(tmp_path), cwd=str(tmp_path), stderr=err
        ) as process:
            raw = _Raw(process)
            with anyio.fail_after(60):
                await raw.send(
                    {
                        "jsonrpc": "2.0",
                        "id": 0,
                        "method": "initialize",
                        "params": {
                            "protocolVersion": version,
                            "capabilities": {"elicitation": {}},
                            "clientInfo": {"name": "raw", "version": "1"},
                        },
                    }
                )
                assert (await raw.receive())["id"] == 0
                await raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
                await raw.send({"jsonrpc": "2.0", "id": "list", "method": "tools/list"})
                assert (await raw.receive())["id"] == "list"
                yield raw
            assert process.stdin is not None
            await process.stdin.aclose()
            await process.wait()


def _call(request_id: Any, text: str, name: str = "echo") -> dict[str, Any]:
    arguments = {"text": text} if name == "echo" else {"n": 1}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


async def test_odd_ids_map_back_to_their_calls(make_policy: Callable[[str], Path], tmp_path: Path) -> None:
    policy = make_policy(RULES)
    ids: list[Any] = ["a string id", 2**62 + 7, -3, "", "agentguard-fast-1", 17]
    async with _raw(tmp_path, policy) as raw:
        for request_id in ids:
            await raw.send(_call(request_id, f"text {request_id!r}"))
        await raw.send(_call(17, "reused id, sent while the first may still run"))
        answers = [await raw.answer() for _ in range(len(ids) + 1)]
    texts: dict[str, list[str]] = {}
    for answer in answers:
        assert "result" in answer, answer
        texts.setdefault(json.dumps(answer["id"]), []).append(answer["result"]["content"][0]["text"])
    for request_id in ids:
        if request_id != 17:
            assert texts[json.dumps(request_id)] == [f"text {request_id!r}"]
    assert sorted(texts["17"]) == sorted(["text 17", "reused id, sent while the first may still run"])


async def test_malformed_and_odd_lines_are_answered_as_the_sdk_answers_them(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES)
    async with _raw(tmp_path, policy) as raw:
        await raw.send('{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "echo"')  # cut
        await raw.send(_call(6.5, "a float id"))
        params = {"name": "echo", "arguments": {"text": "x"}, "extra": True}
        await raw.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params})
        await raw.send(_call(8, "still served"))
        answers: dict[str, dict[str, Any]] = {}
        while not {"7", "8"} <= answers.keys():  # the SDK drops what it cannot parse, unanswered
            answer = await raw.answer()
            answers[json.dumps(answer.get("id"))] = answer
    assert answers["8"]["result"]["content"][0]["text"] == "still served"
    assert answers["7"]["result"]["content"][0]["text"] == "x"  # unknown params fields: the SDK's path
    assert "5" not in answers  # the cut line was not taken for a call


async def test_cancelling_a_fast_call_leaves_it_unanswered_and_audited(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES)
    async with _raw(tmp_path, policy) as raw:
        # ask_user waits for this client to answer an elicitation it is never given an answer to
        slow = {"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": {"name": "ask_user"}}
        await raw.send(slow)
        asked = await raw.receive()
        assert asked.get("method") == "elicitation/create", asked  # what came instead, if anything
        await raw.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "slow", "reason": "x"},
            }
        )
        await raw.send(_call("after", "after the cancel"))
        answer = await raw.answer()
    assert answer["id"] == "after"  # the cancelled call is never answered
    assert answer["result"]["content"][0]["text"] == "after the cancel"
    records = audit_records(tmp_path / "home" / "audit.jsonl")
    last = [rs[-1]["event"] for rs in calls(records).values() if rs[0]["tool"] == "mcp.notes.ask_user"]
    assert last == ["execution.failed"]


async def test_sdk_and_fast_paths_share_one_guard_session(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES)
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        await client.call_tool("echo", {"text": "one"}, meta=META)
        await client.call_tool("echo", {"text": "two"})
    records = audit_records(tmp_path / "home" / "audit.jsonl")
    sessions = {rs[0]["session"] for rs in calls(records).values() if rs[0]["tool"] == "mcp.notes.echo"}
    assert len(sessions) == 1


async def test_a_call_asking_for_progress_still_gets_it(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = make_policy(RULES + "p, *, mcp.notes.count, *, allow\n")
    steps: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        steps.append(value)

    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        result = await client.call_tool("count", {"n": 3}, progress_callback=progress)
    assert _text(result) == "counted to 3"
    assert steps == [1, 2, 3]


async def test_a_fast_answer_is_redacted_by_outputs_toml_as_the_sdk_path_is(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    """The fast path writes the answer before the guard records the result: it must still be the
    redacted one, and the session must have read the secret (a later send is decided on it)."""
    policy = make_policy(RULES + 'p, *, mcp.notes.write_note, session_read("secret"), deny\n')
    (policy / "outputs.toml").write_text(
        '[[output]]\ntool = "mcp.notes.echo"\ntrust = "untrusted"\nredact = ["secret"]\n', encoding="utf-8"
    )
    token = "ghp_" + "e" * 36
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        sdk = await client.call_tool("echo", {"text": f"key {token}"}, meta=META)
        fast = await client.call_tool("echo", {"text": f"key {token} again"})
        after = await client.call_tool("write_note", {"path": str(tmp_path / "n.txt"), "content": "x"})
    assert token not in _text(sdk)
    assert "[REDACTED:" in _text(sdk)
    assert token not in _text(fast)
    assert "[REDACTED:" in _text(fast)
    assert fast.structured_content is None or token not in json.dumps(fast.structured_content)
    assert after.is_error  # the session read a secret: decided on the recorded result
    records = audit_records(tmp_path / "home" / "audit.jsonl")
    assert token not in json.dumps(records)
    assert [r["event"] for r in records].count("result.redacted") == 2


async def test_the_same_result_is_recorded_alike_either_path(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    """The lead: the SDK path's ``execution.finished`` counted 4 untrusted fields of an echo, the fast
    path 3: the SDK path read its typed model's ``resultType``, which the agent is never answered with."""
    policy = make_policy(RULES)
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        sdk = await client.call_tool("echo", {"text": "same"}, meta=META)
        fast = await client.call_tool("echo", {"text": "same"})
    assert (sdk.content, sdk.structured_content) == (fast.content, fast.structured_content)
    records = audit_records(tmp_path / "home" / "audit.jsonl")
    finished = [
        {k: v for k, v in r.items() if k in {"result", "provenance", "tool", "redacted"}}
        for r in records
        if r["event"] == "execution.finished"
    ]
    assert len(finished) == 2
    assert finished[0] == finished[1]
    assert finished[0]["provenance"]["untrusted_fields"] == 3  # "text", "same", and the structured "same"


async def test_a_server_error_response_is_not_a_lost_server(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    """-32000 is the SDK's own code for a closed connection and also the first of JSON-RPC's
    implementation-defined server errors. A server's error response with it was taken for the
    server going away, either path: audited as "the MCP server stopped during the call" (it had
    not: it answered) and the server process stopped, with any other call it was running."""
    policy = make_policy(RULES)
    async with _client(tmp_path, policy) as client:
        await client.list_tools()
        sdk = await client.call_tool("server_error", {}, meta=META)
        fast = await client.call_tool("server_error", {})
        after = await client.call_tool("echo", {"text": "still here"})
    for result in (sdk, fast):
        assert result.is_error
        assert "quota exceeded for today" in _text(result)
        assert "stopped" not in _text(result)
    assert _text(after) == "still here"
    assert len((tmp_path / "starts.log").read_text().split()) == 1  # never restarted
    records = audit_records(tmp_path / "home" / "audit.jsonl")
    failed = [r["error"]["code"] for r in records if r["event"] == "execution.failed"]
    assert failed == ["tool.failed", "tool.failed"]


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_a_screened_refusal_has_the_form_of_every_other_answer(
    make_policy: Callable[[str], Path], tmp_path: Path, version: str
) -> None:
    """A ``tools/call`` with its params null or missing is refused by the screen (an audited tool
    error) before the SDK's handler: its answer carried the typed model's ``resultType: complete``
    on a 2025-11-25 connection, which no other answer there does (the SDK sieves results by the
    connection's protocol version; a middleware's own answer is sent as it is given)."""
    policy = make_policy(RULES)
    async with _raw(tmp_path, policy, version) as raw:
        await raw.send({"jsonrpc": "2.0", "id": "null", "method": "tools/call", "params": None})
        await raw.send({"jsonrpc": "2.0", "id": "missing", "method": "tools/call"})
        await raw.send(
            {"jsonrpc": "2.0", "id": "no name", "method": "tools/call", "params": {"arguments": {}}}
        )
        await raw.send(_call("fast", "x", name="delete_all"))  # refused by policy on the fast path
        sdk = {**_call("sdk", "x", name="delete_all")}
        sdk["params"] = {**sdk["params"], "_meta": META}  # the same refusal on the SDK path
        await raw.send(sdk)
        answers: dict[str, dict[str, Any]] = {}
        while len(answers) < 5:
            answer = await raw.answer()
            answers[answer["id"]] = answer
    shapes = {key: sorted(answer["result"]) for key, answer in answers.items()}
    assert shapes == {key: ["content", "isError"] for key in answers}, shapes
    assert "invalid arguments" in answers["null"]["result"]["content"][0]["text"]


async def test_a_call_with_a_progress_token_gets_the_servers_progress_relayed(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    """The SDK path asks the server for progress under a token of its own client's and relays each
    notification under the agent's token; the fast path never sends ``_meta`` upstream, so a call
    with any ``_meta`` (a progress token) is not taken by it (``_PARAM_KEYS``): the agent gets its
    progress however the call is written. Without a token, neither path relays any."""
    policy = make_policy(RULES + "p, *, mcp.notes.count, *, allow\n")
    plain = _call("plain", "", name="count")
    plain["params"]["arguments"] = {"n": 3}
    asked = {**plain, "id": "asked", "params": {**plain["params"], "_meta": {"progressToken": "tok"}}}
    escaped = json.dumps({**asked, "id": "escaped"}).replace('"_meta"', '"\\u005fmeta"')
    progress: dict[str, list[tuple[Any, Any]]] = {}
    async with _raw(tmp_path, policy) as raw:
        for request_id, message in (("plain", plain), ("asked", asked), ("escaped", escaped)):
            await raw.send(message)
            seen = progress.setdefault(request_id, [])
            while "method" in (received := await raw.receive()):
                assert received["method"] == "notifications/progress", received
                seen.append((received["params"]["progressToken"], received["params"]["progress"]))
            assert received["id"] == request_id
            assert received["result"]["content"][0]["text"] == "counted to 3", received
    relayed = [("tok", 1), ("tok", 2), ("tok", 3)]
    assert progress == {"plain": [], "asked": relayed, "escaped": relayed}
