"""The host side of the runner protocol, fed byte streams as Docker delivers them."""

from __future__ import annotations

import json
import struct

from agentguard.sandbox._protocol import ResponseParser, encode_request


def mux(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def rec(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def test_records_split_across_frames_and_reads() -> None:
    body = rec(b"r", b"") + rec(b"o", b"hello ") + rec(b"e", b"warn") + rec(b"o", b"world")
    body += rec(b"x", json.dumps({"reason": "exited", "exit_code": 0}).encode())
    # Docker frames cut the record stream at arbitrary points; the socket cuts the frames again.
    stream = mux(1, body[:7]) + mux(2, b"runner noise") + mux(1, body[7:20]) + mux(1, body[20:])
    parser = ResponseParser(cap=1000)
    for i in range(0, len(stream), 3):
        parser.feed(stream[i : i + 3])
    assert parser.ready
    assert bytes(parser.stdout) == b"hello world"
    assert bytes(parser.stderr) == b"warn"
    assert bytes(parser.runner_stderr) == b"runner noise"
    assert parser.report == {"reason": "exited", "exit_code": 0}
    assert parser.malformed is None


def test_cap_keeps_the_first_bytes_and_counts_the_rest() -> None:
    parser = ResponseParser(cap=4)
    parser.feed(mux(1, rec(b"o", b"abcdef")))
    assert bytes(parser.stdout) == b"abcd"
    assert parser.stdout_seen == 6
    assert parser.over_cap


def test_garbage_from_the_container_is_an_error_not_a_crash() -> None:
    parser = ResponseParser(cap=100)
    parser.feed(mux(1, rec(b"x", b"{not json")))
    assert parser.report == {"reason": "error"}
    assert parser.malformed is not None
    other = ResponseParser(cap=100)
    other.feed(mux(1, rec(b"?", b"")))
    assert other.report == {"reason": "error"}
    assert "unknown record kind" in (other.malformed or "")


def test_request_is_a_json_line_then_the_code() -> None:
    data = encode_request({"protocol": 1, "timeout_s": 2.0}, b"print(1)\n")
    header, _, code = data.partition(b"\n")
    assert json.loads(header) == {"protocol": 1, "timeout_s": 2.0, "code_bytes": 9}
    assert code == b"print(1)\n"


def test_the_header_counts_the_code_in_bytes() -> None:
    code = "print('é')\n".encode()
    header, _, rest = encode_request({"protocol": 1}, code).partition(b"\n")
    assert json.loads(header)["code_bytes"] == len(code) == len(rest)
