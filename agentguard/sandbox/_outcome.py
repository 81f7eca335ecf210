"""How a run ended and what the caller gets: the runner's report (or the engine's word when there
was none) made into a ``SandboxResult``."""

from __future__ import annotations

from typing import Any

from docker.errors import DockerException, NotFound

from agentguard.detectors import without_cut_token
from agentguard.sandbox._container import Exchange, PoolKey
from agentguard.sandbox_api import EndReason, SandboxResult

__all__ = ["build_result", "ending"]

_REASONS = {r.value: r for r in EndReason}


def ending(api: Any, cid: str, ex: Exchange) -> tuple[EndReason, str | None, bool]:
    """(reason, error, clean): ``clean`` when the runner reported and exits on its own; otherwise
    (a run that overstayed, a report the host could not read, no report) the container is killed."""
    p = ex.parser
    report = p.report or {}
    error: str | None = ex.failure or p.malformed or report.get("error")
    if p.report is not None and not ex.over_cap:
        reason = _REASONS.get(str(report.get("reason")), EndReason.ERROR)
        return reason, error, not (reason is EndReason.TIMEOUT or p.malformed)
    if ex.timed_out:
        return EndReason.TIMEOUT, error, False
    if ex.over_cap:
        return EndReason.OUTPUT_LIMIT, error, False
    reason, error = _post_mortem(api, cid, error)
    return reason, error, False


def _post_mortem(api: Any, cid: str, error: str | None) -> tuple[EndReason, str]:
    """The stream ended without the runner's report: ask the engine what happened."""
    try:
        state = api.inspect_container(cid).get("State") or {}
    except NotFound:
        return EndReason.ERROR, error or "the container ended without reporting a result"
    except DockerException as exc:
        return (
            EndReason.ERROR,
            error or f"the container ended without a report and cannot be inspected: {exc}",
        )
    if state.get("OOMKilled"):
        return EndReason.OOM, "the sandbox runner was killed for exceeding the memory limit"
    detail = f"exit code {state.get('ExitCode')}" + (f", {state['Error']}" if state.get("Error") else "")
    return EndReason.ERROR, error or f"the container ended without reporting a result ({detail})"


def build_result(
    ex: Exchange,
    key: PoolKey,
    reason: EndReason,
    error: str | None,
    *,
    call_id: str | None,
    container_id: str,
    warm: bool,
) -> SandboxResult:
    p = ex.parser
    report = p.report or {}
    prof = key.profile
    stdout_cut = bool(report.get("stdout_truncated")) or p.stdout_seen > prof.output_bytes
    stderr_cut = bool(report.get("stderr_truncated")) or p.stderr_seen > prof.output_bytes
    if reason is EndReason.OUTPUT_LIMIT and not (stdout_cut or stderr_cut):
        stdout_cut = True
    stdout = _text(p.stdout, stdout_cut, "stdout", prof.output_bytes)
    stderr = _text(p.stderr, stderr_cut, "stderr", prof.output_bytes)
    if reason is EndReason.ERROR and p.runner_stderr:
        stderr += "\n[agentguard: sandbox runner said]\n" + p.runner_stderr.decode("utf-8", "replace")
    exit_code = report.get("exit_code") if reason in (EndReason.EXITED, EndReason.OOM) else None
    return SandboxResult(
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        duration_ms=round(ex.duration_ms, 3),
        end_reason=reason,
        stdout_truncated=stdout_cut,
        stderr_truncated=stderr_cut,
        signal=report.get("signal"),
        peak_memory_bytes=report.get("peak_memory_bytes"),
        cpu_time_ms=report.get("cpu_time_ms"),
        language=key.language,
        profile=key.profile_name,
        loosenings=tuple(prof.loosenings()),
        call_id=call_id,
        container_id=container_id,
        warm=warm,
        error=error if reason is EndReason.ERROR else None,
    )


def _text(data: bytearray, truncated: bool, stream: str, cap: int) -> str:
    text = data.decode("utf-8", "replace")
    if truncated:  # without the token the cut went through: the start of a secret is not redacted
        text = without_cut_token(text) + f"\n[agentguard: {stream} truncated at {cap} bytes]\n"
    return text
