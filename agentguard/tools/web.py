"""``http.get``: a bounded fetch. The shipped policy denies it; a policy may allow some hosts."""

from __future__ import annotations

import urllib.request

__all__ = ["http_get"]

MAX_BYTES = 1024 * 1024


def http_get(url: str, timeout_s: float = 10.0) -> str:
    """GET ``url`` (http or https only) and return at most 1 MiB of the body as text."""
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"http.get only fetches http(s) URLs, not {url!r}")
    request = urllib.request.Request(url, headers={"User-Agent": "agentguard/0.1"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - scheme checked
        body: bytes = response.read(MAX_BYTES + 1)
    text = body[:MAX_BYTES].decode("utf-8", errors="replace")
    return text + ("\n[truncated]" if len(body) > MAX_BYTES else "")
