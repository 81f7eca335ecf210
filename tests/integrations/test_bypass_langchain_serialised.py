"""LangChain: the guard decides on the JSON form of LangChain's parsed values, and that form can hide
what the tool gets (found by the red team). A field excluded from dumps (or a custom serializer) in a
nested model left its value out of the decision while the tool got it: such arguments, whose JSON
form does not parse back to what the tool gets, are now refused.

A ``SecretStr`` serialised as ``"**********"``, so a rule on the value (``eq``, where a value came
from) read the mask while the tool got the text the model wrote. It is now decided on its text (the
schema says ``writeOnly``/``format: password``), and logged masked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from langchain_core.tools import tool
from pydantic import BaseModel, Field, SecretStr

from agentguard import Guard
from agentguard.integrations.langchain import guard_tools
from agentguard.secret_arguments import MASK

RAN: list[str] = []

RULES = """
p, *, *, *, allow
p, *, login, eq(password, "hunter2"), deny
p, *, call_api, eq(options.token, "stolen"), deny
"""


@tool
def login(user: str, password: SecretStr) -> str:
    """Log in."""
    RAN.append(password.get_secret_value())
    return "ok"


class Options(BaseModel):
    region: str = "eu"
    token: str = Field(default="", exclude=True)


@tool
def call_api(options: Options) -> str:
    """Call the API."""
    RAN.append(options.token)
    return "ok"


def test_a_secret_argument_is_decided_on_what_the_tool_gets(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    RAN.clear()
    (guarded,) = guard_tools(make_guard(RULES), [login])
    assert "[policy.denied]" in guarded.invoke({"user": "u", "password": "hunter2"})
    assert RAN == []
    assert guarded.invoke({"user": "u", "password": "correct-horse-9"}) == "ok"
    assert RAN == ["correct-horse-9"]
    log = audit_path.read_text()
    assert "hunter2" not in log
    assert "correct-horse-9" not in log
    assert MASK in log


def test_an_argument_whose_json_form_hides_a_value_is_refused(make_guard: Callable[..., Guard]) -> None:
    RAN.clear()
    (guarded,) = guard_tools(make_guard(RULES), [call_api])
    answer = guarded.invoke({"options": {"region": "eu", "token": "stolen"}})
    assert "[call.invalid_arguments]" in answer
    assert "'options'" in answer
    assert RAN == []
    assert guarded.invoke({"options": {"region": "us"}}) == "ok"  # nothing hidden: decided and run
    assert RAN == [""]
