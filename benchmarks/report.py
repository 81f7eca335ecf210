"""``latest.md`` and the PNG plots, from the result dict of one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _ok(section: Any) -> bool:
    return isinstance(section, dict) and section.get("status") not in ("failed", "unavailable")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _decision_plot(d: dict[str, Any], out: Path) -> Path:
    rows = d["by_rules"]
    rules = [int(n) for n in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for who, style in (("agentguard", "o-"), ("pycasbin", "s--")):
        ax.plot(rules, [rows[str(n)][who]["p50_us"] for n in rules], style, label=f"{who} p50 (first sight)")
        ax.plot(rules, [rows[str(n)][who]["p99_us"] for n in rules], style, alpha=0.4, label=f"{who} p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rules in the policy")
    ax.set_ylabel("decision latency (us)")
    ax.set_title("Decision latency: PolicyEngine.decide vs pycasbin Enforcer")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, out / "decision_latency.png")


def _bars(labels: list[str], values: list[float], title: str, ylabel: str, path: Path, log: bool) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    bars = ax.bar(labels, values, color="#4C72B0")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            _fmt(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom"
        )
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=20)
    return _save(fig, path)


def _overhead_plot(o: dict[str, Any], out: Path) -> Path:
    labels = ["direct call", "Guard.call (batch)", "Guard.call (fsync)"]
    values = [o["direct"]["p50_us"], o["batch"]["call"]["p50_us"], o["fsync"]["call"]["p50_us"]]
    return _bars(
        labels,
        values,
        "Guarded call vs direct call, p50",
        "microseconds (log)",
        out / "guard_overhead.png",
        True,
    )


def _sandbox_plot(s: dict[str, Any], out: Path) -> Path:
    latency = s["agentguard"]["latency_ms"]
    labels, values = [], []
    for name, item in latency.items():
        labels.append(name)
        values.append(item["p50"])
    for name, peer in s["peers"].items():
        if isinstance(peer, dict) and peer.get("status") == "ok":
            labels.append(name)
            values.append(peer["latency_ms"]["p50"])
    return _bars(
        labels,
        values,
        "print(6*7) in a container, p50",
        "milliseconds (log)",
        out / "sandbox_latency.png",
        True,
    )


def _audit_plot(a: dict[str, Any], out: Path) -> Path:
    rates = a["append_per_s"]
    labels = list(rates)
    return _bars(
        labels,
        [rates[k] for k in labels],
        "Audit append rate",
        "records per second (log)",
        out / "audit_append.png",
        True,
    )


def _agentdojo_plot(a: dict[str, Any], out: Path) -> Path:
    suites = [s for s in a["suites"] if "status" not in a["suites"][s]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4.2))
    parts = [
        ("benign_no_prompt", "no prompt", "#55A868"),
        ("benign_prompted", "prompted", "#DD8452"),
        ("benign_broken_by_deny", "broken by deny", "#C44E52"),
        ("benign_failed", "failed", "#8172B3"),
    ]
    bottom = [0.0] * len(suites)
    for key, label, color in parts:
        values = [a["suites"][s][key] for s in suites]
        ax1.bar(suites, values, bottom=bottom, label=label, color=color)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax1.set_title("Benign tasks")
    ax1.legend(fontsize=8)
    policy = [a["suites"][s]["pair_attacks_stopped_by_policy"] for s in suites]
    person = [a["suites"][s]["pair_attacks_stopped_with_person"] for s in suites]
    through = [a["suites"][s]["pair_attacks"] - a["suites"][s]["pair_attacks_stopped"] for s in suites]
    ax2.bar(suites, policy, label="stopped by policy alone", color="#55A868")
    ax2.bar(suites, person, bottom=policy, label="stopped with a person", color="#DD8452")
    ax2.bar(
        suites,
        through,
        bottom=[p + q for p, q in zip(policy, person, strict=True)],
        label="got through",
        color="#C44E52",
    )
    ax2.set_title("Injection attacks (every user task x injection task)")
    ax2.legend(fontsize=8)
    return _save(fig, out / "agentdojo.png")


PLOTS = {
    "decision": _decision_plot,
    "overhead": _overhead_plot,
    "sandbox": _sandbox_plot,
    "audit": _audit_plot,
    "agentdojo": _agentdojo_plot,
}


def plots(result: dict[str, Any], out: Path) -> list[Path]:
    made = []
    for name, fn in PLOTS.items():
        if _ok(result.get(name)):
            made.append(fn(result[name], out))
    return made


def _peers(s: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in s["peers"].items() if isinstance(v, dict)]


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _failed(name: str, section: Any) -> str:
    if section is None:
        return f"_{name}: not run in this invocation._"
    return f"_{name}: {section.get('status')}: {section.get('why')}_"


def _mcp_slowdown(mp: dict[str, Any], key: str) -> str:
    if key == "direct":
        return "1x"
    if key == "bare_relay":
        direct = mp["direct"]["p50_ms"]
        return f"{_fmt(mp[key]['p50_ms'] / direct, 2)}x" if direct else "-"
    return f"{_fmt(mp['slowdown_vs_direct_p50'][key[6:]], 2)}x"


def _provenance_section(p: Any) -> list[str]:
    out = ["## Provenance: a guarded call over a session with 1 MB of tool output", ""]
    if not _ok(p):
        return [*out, _failed("provenance", p), ""]
    rows = [
        ["Guard.call, in-memory audit sink", p["call"]["p50_us"], p["call"]["p99_us"], p["call"]["n"]],
        [
            "Guard.call, batch audit log",
            p["call_batch_audit"]["p50_us"],
            p["call_batch_audit"]["p99_us"],
            p["call_batch_audit"]["n"],
        ],
        ["Guard.decide only", p["decide_only"]["p50_us"], p["decide_only"]["p99_us"], p["decide_only"]["n"]],
        [
            "baseline: the same call, no session, one unconditional rule, in-memory sink",
            p["baseline_call"]["p50_us"],
            p["baseline_call"]["p99_us"],
            p["baseline_call"]["n"],
        ],
    ]
    return [
        *out,
        f"The session read {p['session_output_bytes']:,} bytes in {p['session_results']:,} results "
        f"before timing ({p['index_keys']:,} indexed values, indexed in {p['index_seconds']} s). "
        "The call is decided by trusted(), untrusted_only(), carries_untrusted(), every_url() and "
        "session_read(), with a different body each time.",
        "",
        _table(["path", "p50 us", "p99 us", "samples"], rows),
        "",
        f"Target (in-memory audit sink): p50 <= {p['target_p50_us']:g} us and "
        f"p99 <= {p['target_p99_us']:g} us: "
        f"**{'met' if p['target_met'] else 'NOT met'}**.",
        "",
    ]


def _egress_section(e: Any) -> list[str]:
    if e is None:
        return []
    out = ["## Sandbox egress proxy and sandboxed MCP servers", ""]
    if not _ok(e):
        return [*out, _failed("egress", e), ""]
    p, d = e["proxied"], e["direct"]
    out += [
        _table(
            ["path", "per connection p50 ms", "p99 ms", f"{e['download_mb']} MB download MB/s"],
            [
                [
                    "through the egress proxy (net.connect decided and audited)",
                    p["per_connection"]["p50_ms"],
                    p["per_connection"]["p99_ms"],
                    p["download_mb_per_s"],
                ],
                [
                    "plain container on the same network",
                    d["per_connection"]["p50_ms"],
                    d["per_connection"]["p99_ms"],
                    d["download_mb_per_s"],
                ],
            ],
        ),
        "",
        f"Added latency per connection (p50): {_fmt(e['added_latency_p50_ms'], 2)} ms; download "
        f"throughput ratio proxied/direct: {_fmt(e['throughput_ratio'], 2)}.",
        "",
    ]
    m = e.get("mcp")
    if m:
        out += [
            _table(
                ["mcp-server-time behind mcp-proxy", "start-up p50 ms", "tools/call p50 ms", "p99 ms"],
                [
                    [
                        name,
                        m[name]["startup"]["p50_ms"],
                        m[name]["tools_call"]["p50_ms"],
                        m[name]["tools_call"]["p99_ms"],
                    ]
                    for name in ("host", "sandbox")
                ],
            ),
            "",
        ]
    return out


def _shared_db_section(d: Any) -> list[str]:
    out = ["## Shared database (PostgreSQL) beside SQLite and the file log", ""]
    if isinstance(d, dict) and d.get("status") == "skipped":
        return [*out, f"skipped: {d.get('why')}", ""]
    if not _ok(d):
        return [*out, _failed("shared_db", d), ""]
    rt, dec, rates = d["approval_round_trip_us"], d["decision_us"], d["audit_append_per_s"]
    ms = [(f"approval round trip {q} (ms)", f"{q}_us") for q in ("p50", "p99")]
    return [
        *out,
        f"Load average during the run: {d['loadavg']} -> {d['loadavg_after']}.",
        "",
        _table(
            ["measure", "SQLite / file", "PostgreSQL"],
            [[label, _fmt(rt["sqlite"][k] / 1000), _fmt(rt["postgres"][k] / 1000)] for label, k in ms]
            + [
                [
                    f"decision with grants {q} (us)",
                    dec["sqlite_grants"][f"{q}_us"],
                    dec["postgres_grants"][f"{q}_us"],
                ]
                for q in ("p50", "p99")
            ]
            + [
                [
                    f"decision, policy and grants from the database {q} (us)",
                    dec["sqlite_grants"][f"{q}_us"],
                    dec["postgres_policy_and_grants"][f"{q}_us"],
                ]
                for q in ("p50", "p99")
                if "postgres_policy_and_grants" in dec
            ]
            + [
                [f"audit records/s, {w} writer(s), fsync", rates["file"][w], rates["postgres"][w]]
                for w in rates["file"]
            ],
        ),
        "",
        "PostgreSQL without the chain (one INSERT + commit per record, no lock): "
        + ", ".join(f"{w} writer(s) {v}/s" for w, v in rates["postgres_plain_insert"].items()),
        "",
    ]


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [
        "# agentguard benchmarks",
        "",
        f"Mode **{result['mode']}**, started {result['started']}, {m['cpus']} CPUs, Python {m['python']}, "
        f"load average {m['loadavg_before'][0]} before and {m.get('loadavg_after', ['?'])[0]} after. "
        "Every comparison below was measured side by side in this one run; absolute numbers depend on the "
        "machine and its load, the ratios much less. How to read and rerun them: docs/benchmarks.md.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v),
        "",
        "## Decision latency",
        "",
    ]
    d = result.get("decision")
    if _ok(d):
        rows = []
        for n, r in d["by_rules"].items():
            cpu = r.get("agentguard_cpu", {})
            memo = r.get("agentguard_memoised", {})
            load = r.get("load_s", {})
            rows.append(
                [
                    int(n),
                    r["agentguard"]["p50_us"],
                    r["agentguard"]["p99_us"],
                    cpu.get("p99_us"),
                    memo.get("p50_us"),
                    load.get("agentguard"),
                    load.get("pycasbin"),
                    r["pycasbin"]["p50_us"],
                    r["pycasbin"]["p99_us"],
                    f"{_fmt(r['speedup_p50'])}x",
                    r["pycasbin"]["n"],
                    r["verdict_mismatches"],
                ]
            )
        out += [
            _table(
                [
                    "rules",
                    "first sight p50 us",
                    "first sight p99 us",
                    "first sight CPU p99 us",
                    "memoised p50 us",
                    "load s",
                    "pycasbin load s",
                    "pycasbin p50 us",
                    "pycasbin p99 us",
                    "speedup (p50)",
                    "pycasbin samples",
                    "verdict mismatches",
                ],
                rows,
            ),
            "",
            "First sight: every request is the first for its (agent, tool) pair and carries new argument "
            "values, so no cached rule list or verdict answers it (the headline); CPU p99 is the same calls "
            "in this thread's CPU time (without the scheduler's pauses on a shared machine); memoised: the "
            "same requests repeated. "
            "pycasbin is evaluated as the model defines it (deny, then ask, then allow: up to three "
            "`enforce` calls) with `casbin_functions()` registered; it checks every rule, so few samples "
            "are taken at large sizes (their p99 is their maximum). Verdict mismatches count sampled "
            "requests where the two disagreed.",
            "",
            "![decision latency](decision_latency.png)",
            "",
        ]
        reload = d.get("reload")
        if reload:
            out += [
                f"Reload at {_fmt(reload['rules'])} rules in {reload['files']} files, until the change "
                f"applies: a new grant {_fmt(reload['reload_grant_s'] * 1000, 2)} ms (only the grant layer "
                "is rebuilt), "
                f"a line appended to one file {_fmt(reload['reload_edit_s'], 2)} s (that file parsed again, "
                f"the policy re-indexed), every file changed {_fmt(reload['reload_full_s'], 2)} s. A large "
                "policy's edit is rebuilt in the background: the per-call check that notices it took "
                f"{_fmt(reload['reload_edit_call_s'] * 1000, 2)} ms, the old policy deciding until the swap.",
                "",
            ]
    else:
        out += [_failed("decision", d), ""]
    out += ["## Guarded-call overhead", ""]
    o = result.get("overhead")
    if _ok(o):
        out += [
            _table(
                ["path", "p50 us", "p99 us", "samples"],
                [
                    ["direct call", o["direct"]["p50_us"], o["direct"]["p99_us"], o["direct"]["n"]],
                    *(
                        [
                            [
                                "Guard.call, in-memory audit sink (the guard alone)",
                                o["memory"]["call"]["p50_us"],
                                o["memory"]["call"]["p99_us"],
                                o["memory"]["call"]["n"],
                            ]
                        ]
                        if "memory" in o
                        else []
                    ),
                    [
                        "Guard.call, batch audit",
                        o["batch"]["call"]["p50_us"],
                        o["batch"]["call"]["p99_us"],
                        o["batch"]["call"]["n"],
                    ],
                    [
                        "Guard.call, fsync audit",
                        o["fsync"]["call"]["p50_us"],
                        o["fsync"]["call"]["p99_us"],
                        o["fsync"]["call"]["n"],
                    ],
                    [
                        "Guard.decide only (no audit)",
                        o["batch"]["decide_only"]["p50_us"],
                        o["batch"]["decide_only"]["p99_us"],
                        o["batch"]["decide_only"]["n"],
                    ],
                ],
            ),
            "",
            f"Target: p50 <= {o['target_p50_us']:g} us"
            + (f" and p99 <= {o['target_p99_us']:g} us" if "target_p99_us" in o else "")
            + " for the whole guarded call in batch mode: "
            f"**{'met' if o['target_met'] else 'NOT met'}** (p50 {_fmt(o['batch_p50_us'])} us, "
            f"p99 {_fmt(o['batch']['call']['p99_us'])} us).",
            "",
            "![guard overhead](guard_overhead.png)",
            "",
        ]
    else:
        out += [_failed("overhead", o), ""]
    out += _provenance_section(result.get("provenance"))
    out += ["## MCP proxy overhead", ""]
    mp = result.get("mcp")
    if _ok(mp):
        paths = [
            ("straight to the server (stdio)", "direct"),
            ("through a bare line relay (`benchmarks/mcp_relay.py`): the hop alone", "bare_relay"),
            ("through `agentguard mcp-proxy`, batch audit", "proxy_batch"),
            ("through `agentguard mcp-proxy`, fsync audit", "proxy_fsync"),
        ]
        out += [
            _table(
                ["path", "p50 ms", "p99 ms", "calls", "slowdown (p50)"],
                [
                    [
                        label,
                        mp[key]["p50_ms"],
                        mp[key]["p99_ms"],
                        mp[key]["n"],
                        _mcp_slowdown(mp, key),
                    ]
                    for label, key in paths
                    if key in mp
                ],
            ),
            "",
            "The same `tools/call` from the MCP SDK's client to the same server "
            "(`benchmarks/mcp_echo_server.py`), as a desktop client runs it: a subprocess on stdio. The "
            "proxy adds a process hop, schema validation, the decision and four audit records. "
            + (
                "The four paths run at once, their calls interleaved (each iteration calls every path "
                "with the same argument), so drift of the machine lands on all of them alike. "
                if mp.get("order") == "interleaved"
                else ""
            )
            + (
                f"Added p50: {mp['overhead_p50_ms']['batch']} ms (batch audit); a bare relay in the same "
                f"place adds {mp['bare_relay_overhead_p50_ms']} ms: the guard's own work is the difference."
                if "bare_relay_overhead_p50_ms" in mp
                else ""
            ),
            "",
        ]
    else:
        out += [_failed("mcp", mp), ""]
    out += ["## Sandbox latency and throughput", ""]
    s = result.get("sandbox")
    if _ok(s):
        rows = [
            [
                name,
                v["p50"],
                v["p95"],
                v["n"],
                "fresh container per call"
                if name in ("warm_pool", "cold_start", "docker_run_cli")
                else "one running container",
            ]
            for name, v in s["agentguard"]["latency_ms"].items()
        ]
        notes = []
        for name, peer in _peers(s):
            if peer.get("status") == "ok":
                rows.append(
                    [
                        name,
                        peer["latency_ms"]["p50"],
                        peer["latency_ms"]["p95"],
                        peer["latency_ms"]["n"],
                        "one container reused (peer)",
                    ]
                )
            else:
                notes.append(f"- {name}: unavailable: {peer.get('why')}")
        out += [
            _table(["path", "p50 ms", "p95 ms", "samples", "isolation"], rows),
            "",
            *notes,
            "",
            "Throughput (executions/s by concurrent callers, fresh container each, removal included): "
            + ", ".join(
                f"{c}: {_fmt(v)} ({_fmt(100 * s['throughput_over_engine_limit'][c])}% of the engine limit)"
                for c, v in s["throughput_per_s"].items()
            )
            + f"; engine limit (create, start, wait, remove of a hardened container running `true`): "
            f"{_fmt(s['engine_limit_per_s'])}/s",
            "",
            "Where one execution's time goes (p50 ms, one at a time): "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in s["breakdown_ms"].items()),
            "",
            "Ratios to agentguard's warm-pool p50: "
            + ", ".join(f"{k.replace('_p50_over_warm', '')} {_fmt(v, 2)}x" for k, v in s["ratios"].items()),
            "",
            "![sandbox latency](sandbox_latency.png)",
            "",
        ]
        for name, peer in _peers(s):
            if peer.get("status") == "ok":
                extra = {k: v for k, v in peer.items() if k.endswith("_s")}
                out.append(f"- {name} fixed costs: " + ", ".join(f"{k} {v}" for k, v in extra.items()))
        out.append("")
    else:
        out += [_failed("sandbox", s), ""]
    out += ["## Audit log", ""]
    a = result.get("audit")
    if _ok(a):
        r = a["append_per_s"]
        v = a["verify"]
        out += [
            _table(
                ["mode", "hash-chained records/s", "plain JSONL records/s", "slowdown"],
                [
                    [
                        "fsync per record",
                        r["fsync"],
                        r["fsync_plain_jsonl"],
                        f"{_fmt(a['append_slowdown_vs_plain']['fsync'])}x",
                    ],
                    [
                        "batch (queue of 64, group commit)",
                        r["batch64"],
                        r["batch64_plain_jsonl"],
                        f"{_fmt(a['append_slowdown_vs_plain']['batch64'])}x",
                    ],
                ],
            ),
            "",
            f"`audit verify` of {_fmt(v['records'])} records ({_fmt(v['bytes'] / 1e6)} MB): "
            f"{_fmt(v['seconds'], 2)} s, "
            f"{_fmt(v['records_per_s'])} records/s; parsing the same lines without checking the chain: "
            f"{_fmt(v['parse_only_records_per_s'])} records/s ({_fmt(v['slowdown_vs_parse_only'])}x).",
            "",
            "![audit append](audit_append.png)",
            "",
        ]
    else:
        out += [_failed("audit", a), ""]
    out += ["## Detectors on 1 MB arguments", ""]
    dt = result.get("detectors")
    if _ok(dt):
        out += [
            f"Best and median of {dt['repeats']} runs per input of {_fmt(dt['bytes'])} bytes, in ms; "
            f"target {_fmt(dt['target_ms'])} ms (best run) each for `secret()`, `pii()` and audit redaction.",
            "",
            _table(
                ["input", "secret() best", "median", "pii() best", "median", "redaction best", "median"],
                [
                    [name]
                    + [
                        _fmt(r[f"{op}_{stat}_ms"])
                        for op in ("secret", "pii", "redact")
                        for stat in ("best", "median")
                    ]
                    for name, r in dt["inputs"].items()
                ],
            ),
            "",
            "Over the target: " + (", ".join(dt["over_target"]) or "none") + ".",
            "",
        ]
    else:
        out += [_failed("detectors", dt), ""]
    out += _egress_section(result.get("egress"))
    out += _shared_db_section(result.get("shared_db"))
    out += ["## AgentDojo: policy effectiveness", ""]
    ad = result.get("agentdojo")
    if _ok(ad):
        rows = []

        def row(name: str, r: dict[str, Any]) -> list[Any]:
            return [
                name,
                f"{r['benign_no_prompt']}/{r['benign_total']}",
                r["benign_prompted"],
                r["prompts_total"],
                r["benign_broken_by_deny"],
                r["benign_failed"],
                f"{r['pair_attacks_stopped']}/{r['pair_attacks']}",
                r["pair_attacks_stopped_by_policy"],
                r["pair_attacks_stopped_with_person"],
                r["pair_attacks_succeed_unguarded"],
                r["pairs_not_effective_unguarded"],
                f"{r['attacks_stopped']}/{r['attacks_total']}",
                r["attacks_stopped_by_policy"],
                r["attacks_stopped_with_person"],
            ]

        for name, r in ad["suites"].items():
            rows.append([name, r["status"], *[""] * 12] if "status" in r else row(name, r))
        rows.append(row("**all**", ad["totals"]))
        out += [
            f"AgentDojo {ad['benchmark_version']}, ground-truth replays through the guard, scored by "
            "AgentDojo's own `utility()`/`security()`. Policy packs: permissions/examples/agentdojo/.",
            "",
            _table(
                [
                    "suite",
                    "benign, no prompt",
                    "benign, prompted",
                    "prompts",
                    "benign broken by deny",
                    "benign failed",
                    "attacks stopped (pairs)",
                    "by policy alone",
                    "with a person",
                    "succeed unguarded",
                    "pairs not effective unguarded",
                    "one carrier: stopped",
                    "by policy alone",
                    "with a person",
                ],
                rows,
            ),
            "",
            "Pairs: every injection task against every user task that carries it (the attack text in the "
            "injection vectors that task reads), as AgentDojo measures; a pair whose attack does not "
            "succeed even unguarded is left out. One carrier: each injection task once, on the first "
            "injectable user task. By policy alone: the attack fails even when every ask is approved (a "
            "deny, no person); with a person: it fails only because an ask was refused. Refused calls are "
            "not scored as made. Targets: 100% of attacks stopped, at least 80% by policy alone, at least "
            "90% of benign tasks with no prompt, none broken.",
            "",
        ]
        for name, r in ad["suites"].items():
            if "status" in r:
                continue
            prompted = [
                f"{x['task']} ({', '.join(sorted(set(x['asked'])))})"
                for x in r["tasks"]
                if x["kind"] == "user" and x["outcome"] == "prompted"
            ]
            through = [f"{x['carrier']}+{x['injection']}" for x in r["pairs"] if x["outcome"] == "succeeded"]
            out.append(
                f"- {name}: prompted: {', '.join(prompted) or 'none'}; attacks that got through: "
                f"{', '.join(through) or 'none'}"
            )
        out += ["", "![agentdojo](agentdojo.png)", ""]
    else:
        out += [_failed("agentdojo", ad), ""]
    out += ["## Time per section", "", ", ".join(f"{k}: {v} s" for k, v in result["seconds"].items()), ""]
    return "\n".join(out)
