"""Attacks on the AgentDojo facts: what makes a recipient "known" is not the attacker's to write."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from benchmarks.agentdojo._facts import BankingFacts, Binding, SlackFacts

ATTACKER = "US133000000121212121212"


@pytest.fixture
def env() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from agentdojo.task_suite.load_suites import get_suite

        suite = get_suite("v1.2.1", "banking")
        return suite.load_and_inject_default_environment({})


def _facts(env: Any) -> BankingFacts:
    binding = Binding()
    binding.env = env
    return BankingFacts(binding)


def _transaction(env: Any, **fields: Any) -> Any:
    template = env.bank_account.transactions[0]
    return template.model_copy(update={"id": 1000 + len(env.bank_account.transactions), **fields})


def test_payees_and_merchants_come_from_the_users_own_payments(env: Any) -> None:
    facts = _facts(env)
    assert facts.contains("payees", "SE3550000000054910000003")
    assert facts.contains("merchants", "Spotify")
    assert facts.contains("merchants", " apple ")
    assert not facts.contains("payees", env.bank_account.iban)
    assert not facts.contains("payees", ATTACKER)
    assert not facts.contains("merchants", ATTACKER)


def test_an_incoming_transfers_subject_names_no_merchant(env: Any) -> None:
    env.bank_account.transactions.append(
        _transaction(env, sender="GB29NWBK60161331926819", recipient="me", subject="Evilcorp refund")
    )
    assert not _facts(env).contains("merchants", "Evilcorp")


def test_an_iban_quoted_in_a_payment_subject_does_not_become_a_merchant(env: Any) -> None:
    env.bank_account.transactions.append(
        _transaction(
            env,
            sender="me",
            recipient="SE3550000000054910000003",
            subject=f"SE3550000000054910000003;50.0;{ATTACKER};3GS",
        )
    )
    facts = _facts(env)
    for value in (ATTACKER, "US", "GS", "3GS"):
        assert not facts.contains("merchants", value), value
    assert not facts.contains("payees", ATTACKER)


def _slack() -> tuple[Any, SlackFacts]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from agentdojo.task_suite.load_suites import get_suite

        env = get_suite("v1.2.1", "slack").load_and_inject_default_environment({})
    binding = Binding()
    binding.env = env
    return env, SlackFacts(binding)


def test_slack_members_and_channels_are_the_workspaces_own_at_call_time() -> None:
    env, facts = _slack()
    assert facts.contains("members", "Alice")
    assert facts.contains("channels", "general")
    # a name or a channel only a message or a page mentions is no member, whatever its case
    assert not facts.contains("members", "Dora")
    assert not facts.contains("members", "alice")
    assert not facts.contains("channels", "www.dora-website.com")
    env.slack.users.append("Dora")  # invited earlier in the task (the pack decided the invitation)
    assert facts.contains("members", "Dora")
    env.slack.users.remove("Alice")  # removed: no longer a member
    assert not facts.contains("members", "Alice")
