"""Building the sandbox images, offline when the engine can pull nothing.

Base image, in order (``[sandbox] base = "auto"``): the bootstrapped base already in the engine;
the recipe's ``FROM`` image if the engine has it; else a minimal Debian root filesystem made with
``debootstrap`` from Debian's package archive, cached as a tarball under the state directory and
imported with ``docker import``. ``base = "pull"`` lets the engine pull the recipe's ``FROM``.
Each runtime image carries its recipe's content hash; an unchanged recipe is never rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from docker.errors import DockerException, ImageNotFound

from agentguard.errors import SandboxError
from agentguard.sandbox._engine import (
    PROTOCOL,
    RECIPE_HASH,
    ROOTFS_HASH,
    RUNNER_PROTOCOL,
    base_image_name,
    image_name,
)
from agentguard.sandbox_api import LANGUAGES, Language, SandboxSettings

__all__ = [
    "BuildEvent",
    "ImageStatus",
    "Progress",
    "build_images",
    "image_status",
    "needs_debootstrap",
    "recipes_dir",
]

# A symlink to the top-level sandbox_images/ so wheels carry the recipes too.
SHIPPED_RECIPES = Path(__file__).resolve().parents[1] / "_defaults" / "sandbox_images"
ROOTFS_PACKAGES = ("python3",)
_ROOTFS_RECIPE = "minbase;python3;trim-v1"
_TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/cache/debconf/templates.dat-old",
)
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class BuildEvent:
    """One step of a build, for a progress display. ``state``: start, progress, done or skipped."""

    step: str
    message: str
    state: Literal["start", "progress", "done", "skipped"] = "progress"


Progress = Callable[[BuildEvent], None]


@dataclass(frozen=True, slots=True)
class ImageStatus:
    language: str
    image: str
    present: bool
    up_to_date: bool
    protocol_ok: bool
    built_hash: str | None
    recipe_hash: str | None


def recipes_dir(settings: SandboxSettings) -> Path:
    directory = settings.recipes_dir or SHIPPED_RECIPES
    if not (directory / "runner").is_dir():
        raise SandboxError(
            f"sandbox image recipes not found in {directory} (expected runner/ and one folder per runtime)",
            recipes_dir=str(directory),
        )
    return directory


def _recipe_files(recipes: Path, language: str) -> Iterator[Path]:
    for folder in (recipes / language, recipes / "runner"):
        if not (folder / "Dockerfile").is_file() and folder.name == language:
            raise SandboxError(
                f"no recipe for {language}: {folder / 'Dockerfile'} is missing", language=language
            )
        yield from sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def recipe_hash(recipes: Path, language: str, base_ref: str) -> str:
    digest = hashlib.sha256(f"protocol={PROTOCOL};base={base_ref}\n".encode())
    for path in _recipe_files(recipes, language):
        digest.update(str(path.relative_to(recipes)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _labels(api: Any, name: str) -> dict[str, str] | None:
    try:
        info = api.inspect_image(name)
    except ImageNotFound:
        return None
    return dict(info.get("Config", {}).get("Labels") or {})


def _image_id(api: Any, name: str) -> str | None:
    try:
        return str(api.inspect_image(name)["Id"])
    except ImageNotFound:
        return None


def _rootfs_hash(settings: SandboxSettings) -> str:
    return hashlib.sha256(f"{settings.debian_suite};{_ROOTFS_RECIPE}".encode()).hexdigest()


def _default_from(recipes: Path, language: str, suite: str) -> str:
    for line in (recipes / language / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("ARG BASE="):
            return line.split("=", 1)[1].strip()
    return f"debian:{suite}-slim"


def image_status(
    api: Any, settings: SandboxSettings, languages: Iterable[Language] = LANGUAGES
) -> list[ImageStatus]:
    """Whether each runtime image exists, speaks this runner protocol and matches its recipe."""
    recipes = recipes_dir(settings)
    base_ref = _current_base_ref(api, settings, recipes)
    out = []
    for language in languages:
        name = image_name(settings.image_prefix, language)
        labels = _labels(api, name)
        expected = recipe_hash(recipes, language, base_ref) if base_ref else None
        built = labels.get(RECIPE_HASH) if labels else None
        out.append(
            ImageStatus(
                language=language,
                image=name,
                present=labels is not None,
                up_to_date=labels is not None and expected is not None and built == expected,
                protocol_ok=labels is not None and labels.get(RUNNER_PROTOCOL) == str(PROTOCOL),
                built_hash=built,
                recipe_hash=expected,
            )
        )
    return out


def _current_base_ref(api: Any, settings: SandboxSettings, recipes: Path) -> str | None:
    """The base an up-to-date image would be built on (as its image id), without building anything."""
    boot = base_image_name(settings.image_prefix, settings.debian_suite)
    labels = _labels(api, boot)
    if settings.base != "pull" and labels is not None and labels.get(ROOTFS_HASH) == _rootfs_hash(settings):
        return _image_id(api, boot)
    default = _default_from(recipes, "python", settings.debian_suite)
    return _image_id(api, default) or (default if settings.base == "pull" else None)


def build_images(
    api: Any,
    settings: SandboxSettings,
    *,
    cache_dir: Path,
    progress: Progress | None = None,
    force: bool = False,
    languages: Iterable[Language] = LANGUAGES,
) -> list[ImageStatus]:
    """Build (or confirm up to date) the runtime images; returns their status afterwards."""
    emit: Progress = progress or (lambda _event: None)
    recipes = recipes_dir(settings)
    base_ref, offline = _ensure_base(api, settings, recipes, cache_dir, emit, force)

    def build_one(language: Language) -> None:
        name = image_name(settings.image_prefix, language)
        wanted = recipe_hash(recipes, language, base_ref)
        labels = _labels(api, name)
        step = f"image {language}"
        if not force and labels is not None and labels.get(RECIPE_HASH) == wanted:
            emit(BuildEvent(step, f"{name} is up to date ({wanted[:12]})", "skipped"))
            return
        emit(BuildEvent(step, f"building {name} from {language}/Dockerfile", "start"))
        _docker_build(api, recipes, language, name, base_ref, wanted, offline, settings, emit, step)
        emit(BuildEvent(step, f"built {name} ({wanted[:12]})", "done"))

    # The runtimes share their base and build independently: side by side halves a first build.
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="agentguard-build") as pool:
        for future in [pool.submit(build_one, language) for language in languages]:
            future.result()
    return image_status(api, settings, languages)


def _docker_build(
    api: Any,
    recipes: Path,
    language: str,
    name: str,
    base_ref: str,
    wanted: str,
    offline: bool,
    settings: SandboxSettings,
    emit: Progress,
    step: str,
) -> None:
    kwargs: dict[str, Any] = {
        "path": str(recipes),
        "dockerfile": f"{language}/Dockerfile",
        "tag": name,
        "buildargs": {"BASE": base_ref, "RECIPE_HASH": wanted, "RUNNER_PROTOCOL": str(PROTOCOL)},
        "pull": settings.base == "pull",
        "rm": True,
        "forcerm": True,
        "decode": True,
    }
    if offline:
        kwargs["network_mode"] = "none"  # the bootstrapped base already has everything
    try:
        for chunk in api.build(**kwargs):
            if "error" in chunk:
                raise SandboxError(f"building {name} failed: {chunk['error'].strip()}", image=name)
            text = str(chunk.get("stream", "")).strip()
            if text:
                emit(BuildEvent(step, text))
    except DockerException as exc:
        raise SandboxError(f"building {name} failed: {exc}", image=name) from exc


def _ensure_base(
    api: Any, settings: SandboxSettings, recipes: Path, cache_dir: Path, emit: Progress, force: bool
) -> tuple[str, bool]:
    """(the base to build on, whether the build can run without network)."""
    boot = base_image_name(settings.image_prefix, settings.debian_suite)
    want_hash = _rootfs_hash(settings)
    default = _default_from(recipes, "python", settings.debian_suite)
    if settings.base == "pull":
        emit(BuildEvent("base", f"the engine pulls {default} (base = pull)", "skipped"))
        return default, False
    labels = _labels(api, boot)
    if not force and labels is not None and labels.get(ROOTFS_HASH) == want_hash:
        base_id = _image_id(api, boot) or boot
        emit(BuildEvent("base", f"using {boot} already in the engine", "skipped"))
        return base_id, True
    if settings.base == "auto" and not force:
        local = _image_id(api, default)
        if local is not None:
            emit(BuildEvent("base", f"using {default} already in the engine", "skipped"))
            return local, False
    tarball = _rootfs_tarball(settings, cache_dir, want_hash, emit, force)
    emit(BuildEvent("import", f"importing {tarball.name} as {boot}", "start"))
    repo, tag = boot.rsplit(":", 1)
    try:
        api.import_image_from_file(
            str(tarball),
            repository=repo,
            tag=tag,
            changes=[f"ENV PATH={_PATH}", f"LABEL {ROOTFS_HASH}={want_hash}", 'CMD ["/bin/sh"]'],
        )
    except DockerException as exc:
        raise SandboxError(f"docker import of {tarball} failed: {exc}", tarball=str(tarball)) from exc
    imported = _image_id(api, boot)
    if imported is None:
        raise SandboxError(f"docker import of {tarball} produced no image {boot}", tarball=str(tarball))
    emit(BuildEvent("import", f"imported {boot}", "done"))
    return imported, True


def needs_debootstrap(api: Any, settings: SandboxSettings, cache_dir: Path) -> bool:
    """Whether ``build_images`` would have to run debootstrap (no usable base and no cached rootfs).

    Lets a caller install or report the missing tool before a long build starts, not halfway.
    """
    if settings.base == "pull":
        return False
    recipes = recipes_dir(settings)
    want_hash = _rootfs_hash(settings)
    labels = _labels(api, base_image_name(settings.image_prefix, settings.debian_suite))
    if labels is not None and labels.get(ROOTFS_HASH) == want_hash:
        return False
    if settings.base == "auto" and _image_id(api, _default_from(recipes, "python", settings.debian_suite)):
        return False
    return not _tarball_path(settings, cache_dir, want_hash).is_file()


def _tarball_path(settings: SandboxSettings, cache_dir: Path, want_hash: str) -> Path:
    return cache_dir / f"rootfs-{settings.debian_suite}-{want_hash[:16]}.tar"


def _rootfs_tarball(
    settings: SandboxSettings, cache_dir: Path, want_hash: str, emit: Progress, force: bool
) -> Path:
    tarball = _tarball_path(settings, cache_dir, want_hash)
    if tarball.is_file() and not force:
        size = tarball.stat().st_size / 1e6
        emit(BuildEvent("rootfs", f"cached root filesystem {tarball} ({size:.0f} MB)", "skipped"))
        return tarball
    if shutil.which("debootstrap") is None:
        raise SandboxError(
            "the engine has no base image and none can be pulled here, and debootstrap is not installed: "
            "install it (apt-get install debootstrap) and run `agentguard sandbox build` again, or set "
            '[sandbox] base = "pull" if your engine can pull images',
        )
    if os.geteuid() != 0:
        raise SandboxError(
            "debootstrap needs root to build the sandbox base: run `sudo agentguard sandbox build`, or set "
            '[sandbox] base = "pull" if your engine can pull images'
        )
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir))
    target = work / "root"
    # dpkg inside debootstrap fsyncs every file; the tarball is written once, so skip that (2x faster).
    unsafe_io = target / "etc" / "dpkg" / "dpkg.cfg.d" / "agentguard-unsafe-io"
    unsafe_io.parent.mkdir(parents=True)
    unsafe_io.write_text("force-unsafe-io\n")
    try:
        emit(
            BuildEvent(
                "rootfs", f"debootstrap {settings.debian_suite} from {settings.debian_mirror}", "start"
            )
        )
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(ROOTFS_PACKAGES)}",
            settings.debian_suite,
            str(target),
            settings.debian_mirror,
        ]
        _stream(cmd, emit, "rootfs")
        _unmount_below(target)
        unsafe_io.unlink(missing_ok=True)
        for rel in _TRIM:
            path = target / rel
            if path.is_dir():
                shutil.rmtree(path)
                path.mkdir()
            elif path.exists():
                path.unlink()
        emit(BuildEvent("rootfs", f"packing {tarball.name}"))
        partial = tarball.with_suffix(".tar.tmp")
        _stream(
            [
                "tar",
                "--numeric-owner",
                "-C",
                str(target),
                "--exclude=./dev/*",
                "--exclude=./proc/*",
                "--exclude=./sys/*",
                "-cf",
                str(partial),
                ".",
            ],
            emit,
            "rootfs",
        )
        os.replace(partial, tarball)
        emit(BuildEvent("rootfs", f"root filesystem cached at {tarball}", "done"))
    finally:
        _unmount_below(target)
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def _stream(cmd: list[str], emit: Progress, step: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env
        )
    except OSError as exc:
        raise SandboxError(f"cannot run {cmd[0]}: {exc}", command=cmd[0]) from exc
    tail: list[str] = []
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail = [*tail[-19:], line]
                emit(BuildEvent(step, line))
    if proc.returncode != 0:
        detail = "\n".join(tail[-8:])
        raise SandboxError(f"{cmd[0]} failed (exit {proc.returncode}):\n{detail}", command=cmd[0])


def _unmount_below(target: Path) -> None:
    """debootstrap mounts /proc and /sys inside the target; never delete through a live mount."""
    prefix = str(target.resolve()) if target.exists() else str(target)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = sorted(
        {
            line.split()[4]
            for line in lines
            if line.split()[4] == prefix or line.split()[4].startswith(prefix + "/")
        },
        key=len,
        reverse=True,
    )
    for point in points:
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    remaining = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix + "/")
    ]
    if remaining:
        raise SandboxError(f"cannot unmount {remaining[0]}; remove {target} by hand after unmounting it")
