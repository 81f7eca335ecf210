"""The plumbing between AgentDojo and a Guard: a guarded runtime, an honest trace, the call log."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from agentguard import Guard
from agentguard.errors import ApprovalDenied, ApprovalTimeout, CallRejected, PolicyDenied, ToolFailed
from agentguard.pipeline import Approver
from benchmarks.agentdojo._facts import Binding


class CallLog:
    """What happened to each call of one replay."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.asked: list[str] = []
        self.denied: list[str] = []  # by a deny rule
        self.refused: list[str] = []  # asked, and the approver said no
        self.made: list[bool] = []  # per call, in order: did it run


class Environments:
    """A suite's environment with injections placed, as AgentDojo's ``load_and_inject_default_environment``
    builds it (the same text, formatted the same way, the same YAML) but parsed by libyaml: a pair-wise
    evaluation loads one per attack, and the pure-Python parser takes ~30x longer."""

    def __init__(self, suite: Any) -> None:
        from agentdojo.task_suite.task_suite import read_suite_file

        self._suite = suite
        self._text = read_suite_file(suite.name, "environment.yaml", suite.data_path)
        self._defaults: dict[str, str] = suite.get_injection_vector_defaults()
        self._loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def load(self, injections: Mapping[str, str]) -> Any:
        unknown = set(injections) - set(self._defaults)
        if unknown:
            raise ValueError(f"{self._suite.name}: not injection vectors: {sorted(unknown)}")
        text = self._text.format(**{**self._defaults, **injections})
        return self._suite.environment_type.model_validate(yaml.load(text, Loader=self._loader))


def replay_pipeline(ground_truth_pipeline: type) -> type:
    """AgentDojo's ``GroundTruthPipeline`` with tool results written out as JSON, not YAML.

    The text only feeds the tool messages (where the harness looks for injection canaries); AgentDojo's
    scoring reads the calls made and the final answer, never this text. The pure-Python
    ``yaml.safe_dump`` took over half of a workspace replay.
    """
    from agentdojo.agent_pipeline.tool_execution import tool_result_to_str
    from agentdojo.types import ChatAssistantMessage, ChatToolResultMessage, text_content_block_from_string

    def dump(value: Any) -> str:
        return json.dumps(value, default=str, ensure_ascii=False, indent=1)

    class ReplayPipeline(ground_truth_pipeline):  # type: ignore[misc, valid-type]
        def query(
            self, query: str, runtime: Any, env: Any, messages: Any = (), extra_args: Any = None
        ) -> tuple[str, Any, Any, list[Any], Any]:
            new: list[Any] = []
            for call in self._task.ground_truth(env):
                new.append(
                    ChatAssistantMessage(
                        role="assistant", tool_calls=[call], content=[text_content_block_from_string("")]
                    )
                )
                result, _ = runtime.run_function(env, call.function, call.args, raise_on_error=True)
                new.append(
                    ChatToolResultMessage(
                        role="tool",
                        content=[text_content_block_from_string(tool_result_to_str(result, dump))],
                        tool_call=call,
                        tool_call_id=None,
                        error=None,
                    )
                )
            answer = text_content_block_from_string(self._task.GROUND_TRUTH_OUTPUT)
            new.append(ChatAssistantMessage(role="assistant", content=[answer], tool_calls=None))
            return query, runtime, env, [*messages, *new], extra_args or {}

    return ReplayPipeline


def strict(model: type[BaseModel]) -> type[BaseModel]:
    """The tool's own argument schema, refusing unknown arguments instead of dropping them."""
    return type(model.__name__, (model,), {"model_config": ConfigDict(extra="forbid")})


def bind(function: Any, binding: Binding) -> Callable[..., Any]:
    def call(**kwargs: Any) -> Any:
        deps = {name: dep.extract_dep_from_env(binding.env) for name, dep in function.dependencies.items()}
        return function.run(**kwargs, **deps)

    call.__name__ = function.name
    return call


class Counting:
    """Wraps an approver to log which tools were sent to a person."""

    def __init__(self, inner: Approver, log: CallLog) -> None:
        self.inner = inner
        self.log = log

    def request(self, request: Any) -> Any:
        self.log.asked.append(request.call.tool)
        return self.inner.request(request)


def runtime_class(functions_runtime: Any, guard: Guard, binding: Binding, log: CallLog) -> Any:
    class GuardedRuntime(functions_runtime):  # type: ignore[misc, valid-type]
        """AgentDojo's runtime with every call sent through the guard; rejections become tool errors."""

        def run_function(
            self,
            env: Any,
            function: str,
            kwargs: Mapping[str, Any],
            raise_on_error: bool = False,
        ) -> tuple[Any, str | None]:
            binding.env = env
            try:
                value = guard.call(function, dict(kwargs), framework="agentdojo")
            except PolicyDenied as exc:
                log.denied.append(function)
                log.made.append(False)
                return "", f"{type(exc).__name__}: {exc}"
            except (ApprovalDenied, ApprovalTimeout) as exc:
                log.refused.append(function)
                log.made.append(False)
                return "", f"{type(exc).__name__}: {exc}"
            except CallRejected as exc:
                log.made.append(False)
                return "", f"{type(exc).__name__}: {exc}"
            except ToolFailed as exc:
                log.made.append(True)  # the tool ran and raised: an attempt AgentDojo sees too
                cause = exc.__cause__ or exc
                # Not raised even when the pipeline asks: after a refused call a later one can
                # fail (deleting the mail that was never sent), and an agent just sees the error.
                return "", f"{type(cause).__name__}: {cause}"
            log.ran.append(function)
            log.made.append(True)
            return value, None

    return GuardedRuntime


def honest(pipeline: Any, log: CallLog) -> Any:
    """``pipeline`` with every call the guard refused taken out of the messages AgentDojo scores.

    The ground-truth pipeline writes one assistant message per call, then its result; ``log.made``
    holds, in call order, whether each call ran. A refused call was not made, so trace-based checks
    (``security_from_traces``) must not see it.
    """
    from agentdojo.agent_pipeline.base_pipeline_element import BasePipelineElement

    class Honest(BasePipelineElement):  # type: ignore[misc]
        def query(
            self, query: str, runtime: Any, env: Any, messages: Any = (), extra_args: Any = None
        ) -> Any:
            query, runtime, env, out, extra = pipeline.query(
                query, runtime, env, list(messages), extra_args or {}
            )
            kept: list[Any] = list(out[: len(messages)])
            made = iter(log.made)
            dropped: list[Any] = []
            for message in out[len(messages) :]:
                calls = message.get("tool_calls") if message["role"] == "assistant" else None
                if calls:
                    ran = [c for c in calls if next(made, True)]
                    dropped += [c for c in calls if not any(c is r for r in ran)]
                    if not ran:
                        continue
                    message = {**message, "tool_calls": ran or None}
                elif message["role"] == "tool" and any(message["tool_call"] is c for c in dropped):
                    continue
                kept.append(message)
            return query, runtime, env, kept, extra

    return Honest()
