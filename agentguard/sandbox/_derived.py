"""Derived images: the python sandbox image plus PyPI packages (for example an MCP server).

The packages are fetched by ``pip download`` on the host, as wheels for the image's own Python
version and platform, and installed inside ``docker build`` with ``--network none`` and
``pip --no-index`` from those files only (pip itself comes in as one of the wheels): the build
never reaches any index, so what is in the image is exactly what the host fetched.
"""

from __future__ import annotations

import hashlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docker.errors import DockerException

from agentguard.errors import SandboxError
from agentguard.sandbox._engine import MANAGED, image_name
from agentguard.sandbox._images import BuildEvent, Progress
from agentguard.sandbox_api import SandboxSettings

__all__ = ["PIP_PACKAGES", "build_derived"]

PIP_PACKAGES = "io.agentguard.pip-packages"
DERIVED_FROM = "io.agentguard.derived-from"
_TAG = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
_SPEC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],<>=!~ ]*$")
# manylinux tags a Debian bookworm image (glibc 2.36) can load, newest first.
_GLIBC_TAGS = ("2_36", "2_35", "2_34", "2_31", "2_28", "2_27", "2_24", "2_17", "2_12", "2_5")

_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
USER root
COPY wheels /tmp/agentguard-wheels
RUN set -e; pip=$(ls /tmp/agentguard-wheels/pip-*.whl | head -n 1); \\
    python3 "$pip/pip" install --no-index --no-cache-dir --break-system-packages --no-warn-script-location \\
      --find-links /tmp/agentguard-wheels -r /tmp/agentguard-wheels/requirements.txt; \\
    rm -rf /tmp/agentguard-wheels
USER 10001:10001
"""


def _image_python(api: Any, base: str) -> tuple[str, str]:
    """(``"3.11"``, machine) of the interpreter in ``base``, asked of the image itself."""
    code = "import platform,sys;print(f'{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()}')"
    try:
        cid = api.create_container(
            base,
            ["python3", "-I", "-c", code],
            user="10001:10001",
            host_config=api.create_host_config(network_mode="none", read_only=True, cap_drop=["ALL"]),
            labels={MANAGED: "true"},
        )["Id"]
    except DockerException as exc:
        raise SandboxError(f"cannot start {base} to read its Python version: {exc}", image=base) from exc
    try:
        api.start(cid)
        api.wait(cid, timeout=60)
        out = api.logs(cid, stdout=True, stderr=False).decode().split()
    finally:
        api.remove_container(cid, force=True)
    if len(out) != 2:
        raise SandboxError(f"cannot read the Python version of {base}: {out}", image=base)
    return out[0], out[1]


def _download(packages: Sequence[str], dest: Path, version: str, machine: str, emit: Progress) -> None:
    platforms = [f"manylinux_{tag}_{machine}" for tag in _GLIBC_TAGS]
    platforms += [f"manylinux2014_{machine}", "any"]
    nodot = version.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--dest", str(dest)]
    cmd += ["--only-binary=:all:", "--python-version", version, "--implementation", "cp"]
    cmd += [arg for abi in (f"cp{nodot}", "abi3", "none") for arg in ("--abi", abi)]
    cmd += [arg for p in platforms for arg in ("--platform", p)]
    cmd += [*packages, "pip"]
    emit(BuildEvent("download", f"pip download {' '.join(packages)} (Python {version}, {machine})", "start"))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SandboxError(
            f"pip download failed for {', '.join(packages)}: {' / '.join(tail)}", packages=list(packages)
        )
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    emit(BuildEvent("download", f"{len(wheels)} wheels", "done"))


def build_derived(
    api: Any,
    settings: SandboxSettings,
    packages: Sequence[str],
    tag: str,
    *,
    progress: Progress | None = None,
) -> str:
    """Build ``tag`` from the python sandbox image plus ``packages``; returns the image id."""
    emit: Progress = progress or (lambda _event: None)
    if not packages:
        raise SandboxError("give at least one package (--pip PKG)")
    for spec in packages:
        if not _SPEC.match(spec) or "\n" in spec:
            raise SandboxError(f"not a package requirement: {spec!r}", package=spec)
    if not _TAG.match(tag):
        raise SandboxError(f"not an image name: {tag!r} (lowercase name[:tag])", tag=tag)
    base = image_name(settings.image_prefix, "python")
    version, machine = _image_python(api, base)
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if platform.machine() != machine:
        emit(BuildEvent("download", f"host is {platform.machine()}, image is {machine}"))
    work = Path(tempfile.mkdtemp(prefix="agentguard-derived-"))
    try:
        wheels = work / "wheels"
        wheels.mkdir()
        _download(packages, wheels, version, machine, emit)
        (wheels / "requirements.txt").write_text("".join(f"{p}\n" for p in packages))
        joined = " ".join(packages)
        digest = hashlib.sha256(joined.encode()).hexdigest()[:12]
        (work / "Dockerfile").write_text(_DOCKERFILE)
        emit(BuildEvent("image", f"building {tag} ({digest}, host Python {host})", "start"))
        try:
            for chunk in api.build(
                path=str(work),
                tag=tag,
                buildargs={"BASE": base},
                network_mode="none",
                rm=True,
                forcerm=True,
                decode=True,
                labels={PIP_PACKAGES: joined, DERIVED_FROM: base},
            ):
                if "error" in chunk:
                    raise SandboxError(f"building {tag} failed: {chunk['error'].strip()}", image=tag)
                text = str(chunk.get("stream", "")).strip()
                if text:
                    emit(BuildEvent("image", text))
        except DockerException as exc:
            raise SandboxError(f"building {tag} failed: {exc}", image=tag) from exc
        image_id = str(api.inspect_image(tag)["Id"])
        emit(BuildEvent("image", f"built {tag} ({image_id[7:19]})", "done"))
        return image_id
    finally:
        shutil.rmtree(work, ignore_errors=True)
