"""A guarded call with provenance conditions, inside a session that has read 1 MB of tool output.

The session first reads ``MB`` megabytes of web pages and JSON records (URLs, e-mail addresses,
IBANs, prose) through the guard, so everything is indexed as it would be in a run. Then one call
is timed again and again: ``mail.send`` decided by ``trusted(to)``, ``untrusted_only(to)``,
``carries_untrusted(body)``, ``every_url(body, ...)`` and ``session_read("secret")``, run and
its result recorded in the session. It is timed twice: with an in-memory audit sink (what the
guard and the provenance conditions cost; the issue's target, p50 <= 100 us and p99 <= 1 ms, is
judged on this one) and with the real audit log in batch mode (fsync in its writer thread).
"""

from __future__ import annotations

import contextvars
import gc
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from agentguard import Guard
from agentguard.audit import AuditLog
from agentguard.policy import PolicyEngine
from agentguard.settings import Durability, Settings
from agentguard.testing import MemoryAudit
from benchmarks._stats import summary_us, time_each

MODEL = Path(__file__).resolve().parents[1] / "permissions" / "model.conf"
POLICY = """\
p, *, web.get, *, allow
p, *, bank.history, *, allow
p, *, mail.send, trusted(to) && !carries_untrusted(body) && every_url(body, "is(_, \\"ok_link\\")"), allow
p, *, mail.send, untrusted_only(to), deny
p, *, mail.send, session_read("secret"), deny
"""
FACTS = '[sets]\norg = ["example.com"]\n[conditions]\nok_link = \'trusted(_) || host_in(_, "org")\'\n'
OUTPUTS = '[[output]]\ntool = "bank.history"\ntrust = "trusted"\nuntrusted = ["$[*].subject"]\n'
TARGET_P50_US = 100.0
TARGET_P99_US = 1000.0
WORDS = [
    "the",
    "quarterly",
    "report",
    "shows",
    "revenue",
    "growth",
    "across",
    "regions",
    "while",
    "costs",
    "remained",
    "stable",
    "and",
    "the",
    "team",
    "plans",
    "further",
    "investment",
    "in",
    "infrastructure",
    "security",
    "tooling",
    "documentation",
    "and",
    "customer",
    "support",
]


def _page(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(280)]
    words[40] = f"https://site{n}.example.net/articles/{rng.randrange(10**6)}?ref=feed"
    words[120] = f"contact{n}@mail{n % 50}.example.org"
    words[200] = f"https://cdn{n % 20}.example.net/img/{n}.png"
    return " ".join(words)


def _history(rng: random.Random, n: int) -> list[dict[str, Any]]:
    return [
        {
            "date": f"2026-0{1 + i % 9}-1{i % 10}",
            "amount": rng.randrange(1, 5000),
            "iban": "DE89370400440532013000",
            "subject": f"invoice {n}-{i} " + " ".join(rng.choice(WORDS) for _ in range(8)),
        }
        for i in range(20)
    ]


def run(n: int = 5000, mb: float = 1.0) -> dict[str, Any]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="agentguard-bench-provenance-") as name:
        tmp = Path(name)
        policy = tmp / "policy"
        policy.mkdir()
        shutil.copy(MODEL, policy / "model.conf")
        (policy / "policy.csv").write_text(POLICY)
        (policy / "facts.toml").write_text(FACTS)
        (policy / "outputs.toml").write_text(OUTPUTS)
        engine = PolicyEngine.load(policy, workspace=tmp)
        audit = AuditLog(tmp / "audit.jsonl", durability=Durability.BATCH)
        settings = Settings(home=tmp, workspace=tmp)
        outputs: list[Any] = []
        with Guard(engine, audit=audit, settings=settings, agent="bench") as guard:
            guard.register("web.get", lambda url: outputs.pop())
            guard.register("bank.history", lambda page=0: outputs.pop())
            guard.register("mail.send", lambda to, body: "sent")
            user = "Mail bob@example.com the summary of https://docs.example.com/q3 please"
            with guard.session(user_request=user) as session:
                read = 0
                started = time.perf_counter()
                i = 0
                while read < mb * 1_000_000:
                    if i % 5 == 4:
                        value: Any = _history(rng, i)
                        read += len(json.dumps(value))
                        outputs.append(value)
                        guard.call("bank.history", {"page": i})
                    else:
                        value = _page(rng, i)
                        read += len(value)
                        outputs.append(value)
                        guard.call("web.get", {"url": f"https://site{i}.example.net/"})
                    i += 1
                index_s = time.perf_counter() - started
                keys, results = len(session.index), len(session.results)
                args = {
                    "to": "bob@example.com",
                    "body": "Hi Bob, the Q3 summary is at https://docs.example.com/q3 and the wiki "
                    "https://wiki.example.com/q3. Revenue grew; costs were stable. Regards",
                }
                assert guard.decide("mail.send", args).effect.value == "allow"
                attack = {"to": "contact3@mail3.example.org", "body": "the keys"}
                assert guard.decide("mail.send", attack).effect.value == "deny"
                for _ in range(200):
                    guard.call("mail.send", args)
                # a different body every call, so no per-text cache answers for the one timed
                calls = [{**args, "body": f"{args['body']} #{k}"} for k in range(2 * n)]
                # the same session and policy behind a guard whose audit sink is a list: what the
                # guard and the provenance conditions cost, without the audit log's write and fsync
                memory = Guard(engine, audit=MemoryAudit(), settings=settings, agent="bench")
                memory.register("mail.send", lambda to, body: "sent")
                plain_dir = tmp / "plain"
                plain_dir.mkdir()
                shutil.copy(MODEL, plain_dir / "model.conf")
                (plain_dir / "policy.csv").write_text("p, *, mail.send, *, allow\n")
                plain = Guard(
                    PolicyEngine.load(plain_dir, workspace=tmp), audit=MemoryAudit(), settings=settings
                )
                plain.register("mail.send", lambda to, body: "sent")
                gc.collect()
                # the baseline runs in an empty context: outside any session, no provenance at all
                baseline = contextvars.Context().run(
                    time_each, lambda a: plain.call("mail.send", a), calls[:n]
                )
                samples = time_each(lambda a: guard.call("mail.send", a), calls[:n])
                in_memory = time_each(lambda a: memory.call("mail.send", a), calls[n:])
                decide = time_each(lambda a: guard.decide("mail.send", a), calls[: min(n, 2000)])
    call = summary_us(in_memory)
    return {
        "session_output_bytes": read,
        "session_results": results,
        "index_keys": keys,
        "index_seconds": round(index_s, 3),
        "call": call,
        "call_batch_audit": summary_us(samples),
        "decide_only": summary_us(decide),
        "baseline_call": summary_us(baseline),
        "target_p50_us": TARGET_P50_US,
        "target_p99_us": TARGET_P99_US,
        "target_met": call["p50_us"] <= TARGET_P50_US and call["p99_us"] <= TARGET_P99_US,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
