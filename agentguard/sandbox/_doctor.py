"""``sandbox doctor``: is the engine reachable, are the images there, is a real container hardened?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docker.errors import DockerException

from agentguard.errors import SandboxError
from agentguard.models import FrozenModel
from agentguard.sandbox._container import PoolKey, container_config, open_egress, remove, spawn
from agentguard.sandbox._engine import PROTOCOL
from agentguard.sandbox._hardening import check_hardening
from agentguard.sandbox._images import image_status
from agentguard.sandbox._protocol import encode_request

if TYPE_CHECKING:
    from agentguard.sandbox._sandbox import Sandbox

__all__ = ["DoctorCheck", "run_doctor"]

_PROBE = """
import os
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
print("uid", os.getuid())
print("nnp", status["NoNewPrivs"].strip())
print("capeff", status["CapEff"].strip())
print("seccomp", status["Seccomp"].strip())
print("filters", status.get("Seccomp_filters", "?").strip())  # Linux 5.9 and later
print("ifaces", ",".join(sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])))
print("routes", len(open("/proc/net/route").readlines()) - 1)
try:
    open("/probe-write", "w")
    print("rootfs writable")
except OSError:
    print("rootfs read-only")
"""


class DoctorCheck(FrozenModel):
    name: str
    ok: bool
    detail: str
    warning: bool = False  # a failing warning does not fail the doctor


def run_doctor(sandbox: Sandbox) -> list[DoctorCheck]:
    checks: list[DoctorCheck] = []
    api = sandbox.api
    try:
        version = api.version()
        checks.append(
            DoctorCheck(
                name="engine reachable",
                ok=True,
                detail=f"Docker {version.get('Version')} (API {version.get('ApiVersion')})",
            )
        )
    except DockerException as exc:
        checks.append(DoctorCheck(name="engine reachable", ok=False, detail=str(exc)))
        return checks

    try:
        statuses = image_status(api, sandbox.settings)
    except SandboxError as exc:
        checks.append(DoctorCheck(name="image recipes", ok=False, detail=str(exc)))
        return checks
    for st in statuses:
        if not st.present:
            detail = f"{st.image} missing: run `agentguard sandbox build`"
        elif not st.protocol_ok:
            detail = f"{st.image} built for another agentguard version: run `agentguard sandbox build`"
        else:
            detail = st.image
        checks.append(
            DoctorCheck(name=f"image {st.language}", ok=st.present and st.protocol_ok, detail=detail)
        )
        if st.present and not st.up_to_date:
            checks.append(
                DoctorCheck(
                    name=f"image {st.language} up to date",
                    ok=False,
                    warning=True,
                    detail="the recipe changed since the build: run `agentguard sandbox build`",
                )
            )
    if not all(c.ok for c in checks):
        return checks

    name, profile = sandbox.resolve_profile(None)
    key = PoolKey("python", name, profile)
    try:
        endpoint = open_egress(sandbox.egress, key, sandbox.workspace)
        config = container_config(
            api,
            image=sandbox._image("python"),
            key=key,
            workspace=sandbox.workspace,
            call_id="doctor-probe",
            egress=endpoint,
        )
        live = spawn(api, config, key)
        live.egress = endpoint  # closed with the probe
    except SandboxError as exc:
        checks.append(DoctorCheck(name="probe container starts", ok=False, detail=str(exc)))
        return checks
    try:
        attrs = api.inspect_container(live.id)
        for item in check_hardening(attrs, profile):
            checks.append(
                DoctorCheck(
                    name=f"probe: {item.name} (CIS {item.cis})",
                    ok=item.ok,
                    detail=item.detail,
                    warning=item.waived,
                )
            )
        from agentguard.sandbox._container import exchange

        request = encode_request(
            {"protocol": PROTOCOL, "output_bytes": 65536, "timeout_s": 20.0, "cwd": "/tmp"}, _PROBE.encode()
        )
        ex = exchange(live, request, timeout_s=20.0, cap=65536)
        seen = dict(
            line.split(" ", 1)
            for line in ex.parser.stdout.decode(errors="replace").splitlines()
            if " " in line
        )
        inside = [
            ("probe runs code", ex.parser.report is not None, f"end report: {ex.parser.report}"),
            ("inside: non-root uid", seen.get("uid") not in (None, "0"), f"uid {seen.get('uid')}"),
            ("inside: no-new-privileges", seen.get("nnp") == "1", f"NoNewPrivs {seen.get('nnp')}"),
            (
                "inside: no capabilities",
                seen.get("capeff") == "0000000000000000",
                f"CapEff {seen.get('capeff')}",
            ),
            (
                "inside: seccomp filter",
                _engine_seccomp(seen.get("seccomp"), seen.get("filters")),
                f"Seccomp mode {seen.get('seccomp')}, {seen.get('filters')} filter(s)",
            ),
            ("inside: only loopback", seen.get("ifaces") == "lo", f"interfaces {seen.get('ifaces')}"),
            ("inside: no routes", seen.get("routes") == "0", f"{seen.get('routes')} route(s)"),
            (
                "inside: root filesystem read-only",
                seen.get("rootfs") == "read-only",
                f"rootfs {seen.get('rootfs')}",
            ),
        ]
        if profile.network is True:
            inside = [c for c in inside if c[0] not in ("inside: only loopback", "inside: no routes")]
        checks.extend(DoctorCheck(name=n, ok=bool(ok), detail=d) for n, ok, d in inside)
    finally:
        live.close_socket()
        try:
            remove(api, live.id)
        except DockerException as exc:
            checks.append(DoctorCheck(name="probe removed", ok=False, detail=str(exc)))
    orphans = [c for c in sandbox.containers() if c.orphaned]
    checks.append(
        DoctorCheck(
            name="no orphaned sandbox containers",
            ok=not orphans,
            warning=True,
            detail=f"{len(orphans)} orphan(s): run `agentguard sandbox reap`" if orphans else "none",
        )
    )
    return checks


def _engine_seccomp(mode: str | None, filters: str | None) -> bool:
    """Whether the engine's seccomp profile is in force: the runner adds a filter of its own, so
    mode 2 alone proves nothing; a kernel that counts filters must count both."""
    if mode != "2":
        return False
    return filters == "?" or (filters is not None and filters.isdigit() and int(filters) >= 2)
