"""Normal forms: trivial reformatting of a value must not give it a different key."""

from __future__ import annotations

import pytest

from agentguard.session import canonical_url, entities, host_of, key_of, keys_of


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("GB29NWBK60161331926819", "gb29 nwbk 6016 1331 9268 19"),
        ("GB29NWBK60161331926819", "GB29-NWBK-6016-1331-9268-19"),
        ("attacker@evil.example", "  Attacker@EVIL.example "),
        ("Fred Smith", "fred\t\n  smith"),
        ("fred\u200bsmith", "fredsmith"),  # a zero-width space does not make a new value
        ("ｆｒｅｄ", "fred"),  # full-width letters (NFKC)
        ("https://evil.example/a/b", "HTTPS://Evil.Example:443/a/x/../b#frag"),
        ("https://evil.example", "https://evil.example/"),
        (100, 100.0),
    ],
)
def test_reformatted_values_share_a_key(a: object, b: object) -> None:
    assert keys_of(a) & keys_of(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("GB29NWBK60161331926819", "GB29NWBK6016133192681"),  # one digit short: another account
        ("https://evil.example/a", "https://evil.example/b"),
        ("https://evil.example/a?x=1", "https://evil.example/a?x=2"),
        ("attacker@evil.example", "attacker@evil.example.org"),
        (1, True),
    ],
)
def test_different_values_do_not(a: object, b: object) -> None:
    assert not keys_of(a) & keys_of(b)


def test_non_scalars_and_oversized_values_have_no_keys() -> None:
    assert keys_of({"a": 1}) == frozenset()
    assert keys_of(None) == frozenset()
    assert keys_of(float("nan")) == frozenset()
    assert keys_of("x" * 5000) == frozenset()
    assert keys_of("   ") == frozenset()


def test_entities_found_in_prose() -> None:
    text = (
        "Please wire it to GB29 NWBK 6016 1331 9268 19 today, details at https://Evil.example/pay?id=7. "
        "Questions: Billing@Evil.example"
    )
    found = {(e.kind, e.key) for e in entities(text)}
    assert ("iban", "gb29nwbk60161331926819") in found  # the greedy match is cut back to a valid IBAN
    assert ("url", "https://evil.example/pay?id=7") in found  # trailing full stop is not part of it
    assert ("email", "billing@evil.example") in found
    assert ("host", "evil.example") in found


def test_an_invalid_iban_is_not_an_entity() -> None:
    assert not [e for e in entities("ref GB29NWBK60161331926818") if e.kind == "iban"]


def test_url_and_host_forms() -> None:
    assert canonical_url("www.example.org/x") == "http://www.example.org/x"
    assert canonical_url("javascript:alert(1)") is None
    assert canonical_url("not a url") is None
    assert host_of("https://Docs.Example.org./a") == "docs.example.org"
    assert host_of("someone@Mail.Example.com") == "mail.example.com"
    assert host_of("plain words") is None
    assert key_of("  A \n B  ") == "a b"


def test_invisible_characters_do_not_hide_an_entity() -> None:
    found = {(e.kind, e.key) for e in entities("write to drop@evil\u200b.example\u2060 today")}
    assert ("email", "drop@evil.example") in found


def test_surrounding_punctuation_is_not_part_of_the_value() -> None:
    assert "bob@example.com" in keys_of("bob@example.com.")
    assert "bob@example.com" in keys_of("(bob@example.com)")


@pytest.mark.parametrize("spelling", ["1200.5", "1,200.50", "$1,200.50", "1200.50eur", 1200.5])
def test_amounts_share_a_key_with_the_number(spelling: object) -> None:
    assert "1200.5" in keys_of(spelling)


def test_amounts_in_prose_are_indexed_as_numbers() -> None:
    from agentguard.session import Leaf, Session

    session = Session(user_request="Please pay the $1,200.50 invoice and the 99 one")
    assert session.lookup(1200.5)[0]
    assert session.lookup(99)[0]
    assert not session.lookup(1200)[0]
    session.record_result(
        tool="t", call_id="c", arguments={}, leaves=[Leaf("$", "total: 12.00 EUR", "untrusted")]
    )
    assert session.lookup(12)[0]
