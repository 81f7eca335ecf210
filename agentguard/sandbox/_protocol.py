"""Host side of the runner protocol (see sandbox_images/runner/agentguard_runner.py).

Bytes from the attach socket are Docker's multiplexed stream (8-byte header: stream id, three zero
bytes, big-endian length). Inside stream 1 the runner writes its own records: kind byte, big-endian
length, payload; ``r`` says it is ready, ``o``/``e`` are the program's stdout/stderr, ``x`` the
final JSON report.
"""

from __future__ import annotations

import json
import struct
from typing import Any

__all__ = ["ResponseParser", "encode_request"]

_MUX = struct.Struct(">BxxxI")
_REC = struct.Struct(">cI")


def encode_request(header: dict[str, Any], code: bytes) -> bytes:
    """The header as one JSON line (with ``code_bytes``: the runner runs nothing until it has them
    all, so a send cut short never runs a prefix of the code), then the code."""
    line = json.dumps({**header, "code_bytes": len(code)}, separators=(",", ":")).encode()
    return line + b"\n" + code


class ResponseParser:
    """Incremental parser; keeps at most ``cap`` bytes of each stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.stdout_seen = 0
        self.stderr_seen = 0
        self.runner_stderr = bytearray()
        self.ready = False
        self.report: dict[str, Any] | None = None
        self.malformed: str | None = None
        self._mux = bytearray()
        self._records = bytearray()

    @property
    def over_cap(self) -> bool:
        return self.stdout_seen > self.cap or self.stderr_seen > self.cap

    def feed(self, data: bytes) -> None:
        self._mux += data
        while len(self._mux) >= _MUX.size:
            stream, length = _MUX.unpack_from(self._mux)
            end = _MUX.size + length
            if len(self._mux) < end:
                return
            payload = bytes(self._mux[_MUX.size : end])
            del self._mux[:end]
            if stream == 1:
                self._records += payload
                self._parse_records()
            elif len(self.runner_stderr) < 65536:
                self.runner_stderr += payload

    def _parse_records(self) -> None:
        buf = self._records
        while len(buf) >= _REC.size and self.report is None:
            kind, length = _REC.unpack_from(buf)
            end = _REC.size + length
            if len(buf) < end:
                return
            payload = bytes(buf[_REC.size : end])
            del buf[:end]
            if kind == b"r":
                self.ready = True
            elif kind == b"o":
                self.stdout_seen += len(payload)
                self.stdout += payload[: max(0, self.cap - len(self.stdout))]
            elif kind == b"e":
                self.stderr_seen += len(payload)
                self.stderr += payload[: max(0, self.cap - len(self.stderr))]
            elif kind == b"x":
                try:
                    report = json.loads(payload)
                except ValueError:
                    report = None
                if not isinstance(report, dict):
                    self.malformed = "unreadable end report from the sandbox runner"
                    report = {"reason": "error"}
                self.report = report
            else:
                self.malformed = f"unknown record kind {kind!r} from the sandbox runner"
                self.report = {"reason": "error"}
