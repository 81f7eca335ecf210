"""Decision latency: agentguard's ``PolicyEngine.decide`` vs a stock pycasbin ``Enforcer``, same files.

Policies are generated the way a large deployment looks: many services ``svc<N>`` with verbs
(read, list, write, delete, admin), per-role rules with argument conditions, glob rules over whole
services and deny rules. The reference evaluation is the model's own: deny if
``enforce(sub, tool, args, "deny")`` else ask if ``..."ask"`` else allow if ``..."allow"`` else the
default, with ``engine.casbin_functions()`` registered. Every sampled request is checked to get the
same verdict from both, so the comparison is between two correct answers.

Reload figures (``measure_reload``): the same kind of policy split into several files, plus a grants
file: the time until a new grant applies, until a one-line edit to one file applies, and for a reload
where every file changed.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import casbin

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine, _engine
from agentguard.policy._loader import tool_pattern
from benchmarks._stats import ratio, summary_us, time_each, time_each_with_cpu

MODEL = Path(__file__).resolve().parents[1] / "permissions" / "model.conf"
VERBS = ("read", "list", "write", "delete", "admin")
RULES_PER_SERVICE = 10
# Policy-wide rules whose tool pattern starts with a wildcard (a few, as a real policy has).
GLOBAL_RULES = (
    "p, *, *.drop_*, *, deny",
    "p, role1, *.admin, *, ask",
    'p, *, *-export, eq(dest, "public"), deny',
)


def generate_policy(n_rules: int, seed: int = 7) -> tuple[str, list[str], list[str]]:
    """(policy CSV text with ``n_rules`` p-lines, agents, tool names).

    Per service ten rules: literal names, ``svc12.*`` prefixes, and a fifth whose tool pattern starts
    with a wildcard (``*.svc12-export``, ``*svc12.admin``), an infix (``team*.svc12.write``) and a
    ``?``/``[]`` glob (``svc12?.re[a-e]d``); plus a few policy-wide wildcard rules.
    """
    rng = random.Random(seed)
    services = max(1, n_rules // RULES_PER_SERVICE)
    roles = [f"role{i}" for i in range(max(2, min(50, services // 4 + 2)))]
    agents = [f"agent{i}" for i in range(max(4, len(roles) * 2))]
    lines = [f"g, {agent}, {rng.choice(roles)}" for agent in agents]
    lines += [f"g, {roles[i]}, {roles[i - 1]}" for i in range(1, len(roles), 5)]
    rules: list[str] = list(GLOBAL_RULES[: max(0, min(len(GLOBAL_RULES), n_rules - RULES_PER_SERVICE))])
    templates = [
        lambda s, r: f"p, {r}, svc{s}.read, *, allow",
        lambda s, r: f"p, {r}, svc{s}.list, lt(limit, {rng.choice((100, 500, 1000))}), allow",
        lambda s, r: f'p, {r}, svc{s}.write, glob(path, "/data/svc{s}/**"), allow',
        lambda s, r: f'p, {r}, team*.svc{s}.write, !glob(path, "/data/svc{s}/**"), ask',
        lambda s, r: f'p, *, svc{s}.delete, eq(force, "true"), deny',
        lambda s, r: f'p, {r}, svc{s}?.re[a-e]d, oneof(env, "dev", "test"), allow',
        lambda s, r: f"p, {r}, *.svc{s}-export, lt(rows, 5000), ask",
        lambda s, r: f"p, {r}, *svc{s}.admin, *, ask",
        lambda s, r: f"p, {r}, svc{s}.*, *, deny",
        lambda s, r: f'p, *, svc{s}.*, regex(reason, "(?i).*(drop|truncate).*"), deny',
    ]
    count = 0
    while len(rules) < n_rules:
        s = count // RULES_PER_SERVICE
        template = templates[count % RULES_PER_SERVICE]
        role = rng.choice(roles) if template is not templates[8] else rng.choice(roles[-3:])
        rules.append(template(s, role))
        count += 1
    tools = [f"svc{s}.{v}" for s in range(services) for v in VERBS]
    tools += [f"team{s % 7}.svc{s}.write" for s in range(services)]
    tools += [f"bi.svc{s}-export" for s in range(services)]
    tools += [f"ops-svc{s}.admin" for s in range(services)]
    tools += [f"svc{s}{s % 10}.read" for s in range(services)]
    tools += [f"svc{s}.drop_all" for s in range(0, services, 10)]
    return "\n".join(lines + rules) + "\n", agents, tools


def write_policy(directory: Path, text: str, files: int = 1) -> list[Path]:
    """``model.conf`` and the policy in ``directory``: ``policy.csv``, or ``files`` parts
    (``policy-00.csv``, ...) that load in the same order, so the rules are the same."""
    shutil.copy(MODEL, directory / "model.conf")
    if files <= 1:
        (directory / "policy.csv").write_text(text)
        return [directory / "policy.csv"]
    lines = text.splitlines()
    size = -(-len(lines) // files)
    parts = [directory / f"policy-{i:02d}.csv" for i in range(files)]
    for i, path in enumerate(parts):
        path.write_text("\n".join(lines[i * size : (i + 1) * size]) + "\n")
    return parts


def _replace(path: Path, text: str) -> None:
    """As an editor or the approval store writes: a new file renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def measure_reload(n_rules: int, *, files: int = 10, repeats: int = 5) -> dict[str, Any]:
    """Seconds until a change applies, medians of ``repeats``: a new grant (``refresh_due``, as before
    a guarded call: only the grant layer is rebuilt), a line appended to one of ``files`` policy files
    (``refresh``: that file parsed again, the policy re-indexed) and every file changed (all parsed
    again). ``reload_edit_call_s``: what the per-call check costs the caller when it notices that edit
    (a large policy is rebuilt in the background, the old one deciding meanwhile)."""
    text, _, _ = generate_policy(n_rules)
    with tempfile.TemporaryDirectory(prefix="agentguard-bench-reload-") as tmp:
        directory, home = Path(tmp) / "permissions", Path(tmp) / "home"
        directory.mkdir()
        home.mkdir()
        parts = write_policy(directory, text, files)
        grants = home / "grants.csv"
        engine = PolicyEngine.load(directory, workspace=directory, extra_files=[grants])
        grant_s, edit_s, full_s, call_s = [], [], [], []
        granted = ""
        for i in range(repeats):
            granted += f"p, agent{i}, svc{i}.write, *, allow\n"
            _replace(grants, granted)
            started = time.perf_counter()
            engine.refresh_due()
            grant_s.append(time.perf_counter() - started)
            assert engine.rules[-1].ref.text == f"p, agent{i}, svc{i}.write, *, allow"
        target = parts[len(parts) // 2]
        for i in range(repeats):
            _replace(target, target.read_text() + f"p, *, svc{i}.purge, *, deny\n")
            started = time.perf_counter()
            engine.refresh()
            edit_s.append(time.perf_counter() - started)
        for i in range(max(1, repeats // 2)):
            for part in parts:
                _replace(part, part.read_text() + f"# edit {i}\n")
            started = time.perf_counter()
            engine.refresh()
            full_s.append(time.perf_counter() - started)
        recheck = _engine.POLICY_RECHECK_S
        _engine.POLICY_RECHECK_S = 0.0  # the per-call check looks at the policy files every time
        try:
            for i in range(repeats):
                _replace(target, target.read_text() + f"p, *, svc{i}.wipe, *, deny\n")
                started = time.perf_counter()
                engine.refresh_due()
                call_s.append(time.perf_counter() - started)
                engine.wait_reloaded()
        finally:
            _engine.POLICY_RECHECK_S = recheck
        assert engine.load_error is None
    return {
        "rules": n_rules,
        "files": files,
        "reload_grant_s": round(statistics.median(grant_s), 5),
        "reload_edit_s": round(statistics.median(edit_s), 3),
        "reload_full_s": round(statistics.median(full_s), 3),
        "reload_edit_call_s": round(statistics.median(call_s), 5),
    }


def requests(
    agents: list[str], tools: list[str], n: int, seed: int = 11
) -> list[tuple[str, str, dict[str, Any]]]:
    """``n`` requests, each (agent, tool) pair at most once and every argument value new: nothing a
    previous request computed (rule lists, condition results) can answer one of them."""
    rng = random.Random(seed)
    out = []
    seen: set[tuple[str, str]] = set()
    while len(out) < n:
        tool = rng.choice(tools) if rng.random() > 0.05 else f"svc{rng.randrange(10**6)}.nope"
        agent = rng.choice(agents)
        if (agent, tool) in seen:
            continue
        seen.add((agent, tool))
        service = tool.split(".")[0]
        unique = len(out)
        args: dict[str, Any] = {
            "limit": rng.randrange(2000) + (unique % 9973) / 10_000,
            "rows": rng.randrange(10_000),
            "path": rng.choice((f"/data/{service}/a{unique}.txt", f"/etc/passwd{unique}")),
            "env": rng.choice(("dev", "prod", "test")),
            "force": "true" if rng.random() < 0.2 else "false",
            "dest": rng.choice(("public", f"team{unique}")),
            "reason": f"DROP TABLE users{unique}" if rng.random() < 0.1 else f"routine {unique}",
        }
        out.append((agent, tool, args))
    return out


def _reference(enforcer: Any, sub: str, tool: str, args: dict[str, Any]) -> Effect:
    for effect in (Effect.DENY, Effect.ASK, Effect.ALLOW):
        if enforcer.enforce(sub, tool, args, effect.value):
            return effect
    return Effect.DENY


def measure(n_rules: int, *, samples: int, casbin_samples: int) -> dict[str, Any]:
    text, agents, tools = generate_policy(n_rules)
    with tempfile.TemporaryDirectory(prefix="agentguard-bench-policy-") as tmp:
        directory = Path(tmp)
        write_policy(directory, text)
        tool_pattern.cache_clear()  # no tool pattern compiled by a smaller size's run
        gc.collect()
        started, started_cpu = time.perf_counter(), time.thread_time()
        engine = PolicyEngine.load(directory, workspace=directory)
        load_agentguard = time.perf_counter() - started
        load_agentguard_cpu = time.thread_time() - started_cpu
        gc.collect()
        started, started_cpu = time.perf_counter(), time.thread_time()
        enforcer = casbin.Enforcer(str(directory / "model.conf"), str(directory / "policy.csv"))
        for name, fn in engine.casbin_functions().items():
            enforcer.add_function(name, fn)
        load_casbin = time.perf_counter() - started
        load_casbin_cpu = time.thread_time() - started_cpu
        reqs = requests(agents, tools, samples)
        calls = [ToolCall(agent=a, tool=t, arguments=args) for a, t, args in reqs]
        gc.collect()
        # The headline: every call is the first for its (agent, tool) and carries new arguments.
        first_sight, first_sight_cpu = time_each_with_cpu(engine.decide, calls)
        memoised = time_each(engine.decide, calls)  # the same calls again: rule lists and verdicts cached
        theirs_reqs = reqs[:casbin_samples]
        _reference(enforcer, *theirs_reqs[0])  # warm-up: casbin compiles its matcher on first use
        theirs = time_each(lambda r: _reference(enforcer, *r), theirs_reqs)
        mismatches = [
            (a, t)
            for (a, t, args), call in zip(theirs_reqs, calls, strict=False)
            if engine.decide(call).effect is not _reference(enforcer, a, t, args)
        ]
        effects = Counter(engine.decide(call).effect.value for call in calls)
    a, c = summary_us(first_sight), summary_us(theirs)
    return {
        "rules": n_rules,
        "agentguard": a,
        "agentguard_cpu": summary_us(first_sight_cpu),
        "agentguard_memoised": summary_us(memoised),
        "pycasbin": c,
        "speedup_p50": ratio(c["p50_us"], a["p50_us"]),
        "speedup_p99": ratio(c["p99_us"], a["p99_us"]),
        "load_s": {"agentguard": round(load_agentguard, 3), "pycasbin": round(load_casbin, 3)},
        "load_cpu_s": {"agentguard": round(load_agentguard_cpu, 3), "pycasbin": round(load_casbin_cpu, 3)},
        "verdicts": dict(sorted(effects.items())),
        "verdicts_compared": len(theirs_reqs),
        "verdict_mismatches": len(mismatches),
    }


# rule count -> (agentguard samples, pycasbin samples); pycasbin is linear in rules (~1 s/decision at 100k)
FULL = {10: (5000, 2000), 1_000: (5000, 200), 10_000: (5000, 30), 100_000: (5000, 5)}
QUICK = {10: (1000, 300), 1_000: (1000, 50), 10_000: (2000, 8)}
SMOKE = {10: (200, 50), 1_000: (200, 5)}


RELOAD_RULES = 100_000


def run(sizes: dict[int, tuple[int, int]], reload_rules: int | None = None) -> dict[str, Any]:
    """``reload_rules``: the policy size of the reload figures (default: 100,000 unless the largest
    decision size is smaller, as in ``--smoke``)."""
    results = {str(n): measure(n, samples=s, casbin_samples=c) for n, (s, c) in sizes.items()}
    if reload_rules is None:
        reload_rules = RELOAD_RULES if max(sizes) >= 10_000 else max(sizes)
    reload = measure_reload(reload_rules)
    return {
        "reload": reload,
        "reload_grant_s": reload["reload_grant_s"],
        "reload_edit_s": reload["reload_edit_s"],
        "reload_full_s": reload["reload_full_s"],
        "by_rules": results,
        "speedup_vs_pycasbin": {n: r["speedup_p50"] for n, r in results.items()},
        "p50_us": {n: r["agentguard"]["p50_us"] for n, r in results.items()},
        "p99_us": {n: r["agentguard"]["p99_us"] for n, r in results.items()},
        "cpu_p50_us": {n: r["agentguard_cpu"]["p50_us"] for n, r in results.items()},
        "cpu_p99_us": {n: r["agentguard_cpu"]["p99_us"] for n, r in results.items()},
        "memoised_p50_us": {n: r["agentguard_memoised"]["p50_us"] for n, r in results.items()},
        "memoised_p99_us": {n: r["agentguard_memoised"]["p99_us"] for n, r in results.items()},
        "load_s": {n: r["load_s"] for n, r in results.items()},
        "load_cpu_s": {n: r["load_cpu_s"] for n, r in results.items()},
        "pycasbin_p50_us": {n: r["pycasbin"]["p50_us"] for n, r in results.items()},
        "pycasbin_p99_us": {n: r["pycasbin"]["p99_us"] for n, r in results.items()},
        "verdict_mismatches": sum(r["verdict_mismatches"] for r in results.values()),
    }
