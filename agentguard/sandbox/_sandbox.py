"""The Sandbox: runs code in single-use hardened containers, from a warm pool when it can."""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, get_args

from docker.errors import DockerException, ImageNotFound

from agentguard.errors import SandboxError
from agentguard.owner import current_owner
from agentguard.sandbox import _rwrun as rwrun
from agentguard.sandbox._container import (
    Exchange,
    Live,
    PoolKey,
    container_config,
    exchange,
    open_egress,
    remove,
    spawn,
)
from agentguard.sandbox._engine import (
    PROTOCOL,
    RUNNER_PROTOCOL,
    connect,
    image_name,
)
from agentguard.sandbox._images import ImageStatus, Progress, build_images
from agentguard.sandbox._managed import (
    ManagedContainer,
    list_managed,
    own_container_ids,
    own_destroyed,
    reap,
)
from agentguard.sandbox._outcome import build_result, ending
from agentguard.sandbox._pool import WarmPool
from agentguard.sandbox._protect import mount_key
from agentguard.sandbox._protocol import encode_request
from agentguard.sandbox._quarantine import Watch
from agentguard.sandbox._remover import Remover
from agentguard.sandbox_api import (
    LANGUAGES,
    EgressGate,
    Language,
    SandboxProfile,
    SandboxRequest,
    SandboxResult,
    SandboxSettings,
)

__all__ = ["ManagedContainer", "Sandbox", "list_managed", "reap"]

MAX_CODE_BYTES = 4 * 1024 * 1024
# bash gets a shell command as its -c argument only up to this size and without NUL; the runner
# would hand it anything else as a script file, which the command can append to before bash reads
# on (and bash drops NUL bytes from a script): bash would run lines no decision saw.
MAX_SHELL_BYTES = 65535
# The runner enforces the timeout itself (so it can still report memory and CPU used); the host
# waits this much longer for that report before it kills the container on its own.
REPORT_GRACE_S = 1.0
# How long a finished run waits for its connections through the egress proxy to close (ms, normally).
EGRESS_SETTLE_S = 2.0


class Sandbox:
    """Runs ``python`` or ``shell`` code in hardened single-use containers.

    Thread-safe: concurrent ``run`` calls each get their own container. Use as a context manager
    (or call ``close``) so warm containers are removed; containers of a process that died are
    reaped by the next Sandbox started on the same host.
    """

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        *,
        workspace: Path | None = None,
        client: Any = None,
        cache_dir: Path | None = None,
        reap_orphans: bool = True,
        egress: EgressGate | None = None,
        protected: Iterable[Path] = (),
    ) -> None:
        self.settings = settings or SandboxSettings()
        self.egress = egress  # the way out of network = "policy" containers
        self.workspace = workspace
        # Kept read-only inside a rw workspace (the policy directory, the state directory).
        self.protected = tuple(protected)
        self.cache_dir = cache_dir or Path.home() / ".agentguard" / "sandbox"
        self._owns_client = client is None
        self.client = client if client is not None else connect(self.settings.docker_host)
        self.api: Any = self.client.api if hasattr(self.client, "api") else self.client
        self._images: dict[str, str] = {}
        self._images_lock = threading.Lock()
        self._closed = False
        self.reaped: list[ManagedContainer] = reap(self.api) if reap_orphans else []
        self._remover = Remover(
            lambda cid: remove(self.api, cid),
            lambda: own_container_ids(self.api),
            destroyed=lambda: own_destroyed(self.api),
        )
        self._pool = WarmPool(
            self._spawn_pooled,
            self._remover.discard,
            size=self.settings.pool_size,
            max_idle_s=self.settings.pool_max_idle_s,
            fillers=self.settings.pool_fillers,
        )
        self._prewarm()
        atexit.register(self.close)

    # -- public API ---------------------------------------------------------------------------

    def execute(self, request: SandboxRequest) -> SandboxResult:
        """``SandboxBackend``: :meth:`run` for one request (what ``python.exec`` and ``shell.run`` call)."""
        return self.run(
            request.language,
            request.code,
            profile=request.profile,
            call_id=request.call_id,
            egress_owner=request.egress_owner,
        )

    def run(
        self,
        language: Language,
        code: str,
        *,
        profile: str | SandboxProfile | None = None,
        call_id: str | None = None,
        timeout_s: float | None = None,
        egress_owner: object | None = None,
    ) -> SandboxResult:
        """Run ``code`` in a fresh container and return what it produced.

        Raises ``SandboxError`` when it cannot run at all (engine unreachable, image missing, unknown
        profile, workspace refused); everything the code itself does is in the result.
        """
        if self._closed:
            raise SandboxError("this Sandbox is closed")
        if language not in get_args(Language):
            raise SandboxError(f"unknown sandbox language {language!r} (python or shell)", language=language)
        name, prof = self.resolve_profile(profile)
        if timeout_s is not None:
            if not timeout_s > 0:
                raise SandboxError(f"timeout_s must be positive, got {timeout_s}", timeout_s=timeout_s)
            prof = prof.model_copy(update={"timeout_s": float(timeout_s)})
        payload = code.encode("utf-8", "surrogateescape")
        if len(payload) > MAX_CODE_BYTES:
            raise SandboxError(
                f"code is {len(payload)} bytes; the limit is {MAX_CODE_BYTES}", size=len(payload)
            )
        if language == "shell" and (len(payload) > MAX_SHELL_BYTES or b"\0" in payload):
            raise SandboxError(
                f"a shell command is given to bash as its -c argument: at most {MAX_SHELL_BYTES} bytes "
                f"and no NUL byte (this one: {len(payload)} bytes); write a longer script to a file",
                size=len(payload),
            )
        key = PoolKey(language, name, prof)
        self._image(language)
        cwd = "/workspace" if prof.workspace != "none" else "/tmp"
        request = encode_request(
            {
                "protocol": PROTOCOL,
                "output_bytes": prof.output_bytes,
                "timeout_s": prof.timeout_s,
                "cwd": cwd,
            },
            payload,
        )
        live = self._pool.take(key)
        warm = taken = live is not None
        try:
            return self._run_in(live, key, request, call_id, warm, egress_owner)
        finally:
            if taken:
                self._pool.release(key)  # its place in the pool is refilled now, not during the run

    def _run_in(
        self,
        live: Live | None,
        key: PoolKey,
        request: bytes,
        call_id: str | None,
        warm: bool,
        egress_owner: object | None,
    ) -> SandboxResult:
        prof = key.profile
        if live is None:
            live = self._spawn(key, call_id)
        watch = rwrun.watch_for(self.workspace, self.protected, prof)
        try:
            if watch is not None and warm and rwrun.stale(watch, live):
                self._kill_now(live)  # made before a .git or a protected path appeared
                live, warm = self._spawn(key, call_id), False
            if live.egress is not None:
                live.egress.attach(egress_owner)  # its connections are decided for this call
            result = self._exchange(live, request, key, call_id, warm, watch)
            if result is None:
                # A warm container that died while idle never saw the code: use a fresh one.
                self._kill_now(live)
                live, warm = self._spawn(key, call_id), False
                if live.egress is not None:
                    live.egress.attach(egress_owner)
                result = self._exchange(live, request, key, call_id, warm, watch)
                if result is None:  # a cold container always answers: its exchange has a result
                    raise SandboxError("the sandbox container did not take the code", container=live.id)
            if live.egress is not None:  # the code's connections recorded before its call finishes
                live.egress.settle(EGRESS_SETTLE_S)
        except BaseException as exc:
            self._kill_now(live)  # Ctrl-C or a bug: never leave the container behind
            if isinstance(exc, Exception) and not isinstance(exc, SandboxError):
                raise SandboxError(
                    f"sandbox failure: {type(exc).__name__}: {exc}", container=live.id
                ) from exc
            raise
        return result

    def _exchange(
        self, live: Live, request: bytes, key: PoolKey, call_id: str | None, warm: bool, watch: Watch | None
    ) -> SandboxResult | None:
        """Send the code and make the result (the container is done when it returns); None: a warm
        container that never saw the code. A rw run (``watch``) holds the gate until its processes
        are gone (reaped by the runner before its report, or killed), then sets aside what it made."""
        prof = key.profile
        with rwrun.running(watch) as sweep:
            try:
                ex = exchange(live, request, timeout_s=prof.timeout_s + REPORT_GRACE_S, cap=prof.output_bytes)
                if not ex.sent and warm:
                    return None
                result = self._result(live, ex, key, call_id, warm)
            except BaseException:
                self._kill_now(live)
                raise
            if watch is not None:
                result = result.model_copy(update={"quarantined": sweep()})
            return result

    def resolve_profile(self, profile: str | SandboxProfile | None) -> tuple[str, SandboxProfile]:
        """(name, profile) for a name, a profile object or None (the default). Unknown names fail closed."""
        if isinstance(profile, SandboxProfile):
            for name, known in self.settings.profiles.items():
                if known == profile:
                    return name, profile
            return "custom", profile
        name = profile or self.settings.default_profile
        try:
            return name, self.settings.profiles[name]
        except KeyError:
            known_names = ", ".join(sorted(self.settings.profiles))
            raise SandboxError(
                f"unknown sandbox profile {name!r}; defined in [sandbox.profiles]: {known_names}",
                profile=name,
            ) from None

    def wait_warm(
        self,
        language: Language = "python",
        profile: str | SandboxProfile | None = None,
        *,
        count: int = 1,
        timeout_s: float = 30.0,
    ) -> bool:
        """Block until ``count`` (at most the pool size) warm containers for (language, profile) are ready."""
        name, prof = self.resolve_profile(profile)
        self._image(language)
        return self._pool.wait_ready(PoolKey(language, name, prof), count, timeout_s)

    def warm_count(self, language: Language = "python", profile: str | SandboxProfile | None = None) -> int:
        name, prof = self.resolve_profile(profile)
        return self._pool.ready(PoolKey(language, name, prof))

    def build_images(
        self,
        progress: Progress | None = None,
        *,
        force: bool = False,
        languages: Iterable[Language] = LANGUAGES,
    ) -> list[ImageStatus]:
        statuses = build_images(
            self.api,
            self.settings,
            cache_dir=self.cache_dir,
            progress=progress,
            force=force,
            languages=languages,
        )
        with self._images_lock:
            self._images.clear()
        self._prewarm()
        return statuses

    def reap(self, *, everything: bool = False) -> list[ManagedContainer]:
        """Remove orphaned sandbox containers (owner process dead); ``everything``: all but this process's."""
        mine = current_owner()
        removed = []
        for container in list_managed(self.api):
            own = container.owner_pid == str(mine.pid) and container.owner_host == mine.host
            if container.orphaned or (everything and not own):
                remove(self.api, container.id)
                removed.append(container)
        return removed

    def containers(self) -> list[ManagedContainer]:
        return list_managed(self.api)

    def doctor(self) -> list[Any]:
        from agentguard.sandbox._doctor import run_doctor

        return run_doctor(self)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until every finished container has been removed."""
        return self._remover.drain(timeout_s)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._pool.close()
        self._remover.close()
        if self._owns_client:
            with contextlib.suppress(Exception):
                self.client.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _prewarm(self) -> None:
        if not self.settings.pool_size:
            return
        name, prof = self.resolve_profile(None)
        for language in self.settings.pool_languages:
            try:
                self._image(language)
            except SandboxError:
                continue  # not built yet: run() will say what to do
            self._pool.want(PoolKey(language, name, prof))

    def _image(self, language: str) -> str:
        with self._images_lock:
            cached = self._images.get(language)
        if cached:
            return cached
        name = image_name(self.settings.image_prefix, language)
        try:
            info = self.api.inspect_image(name)
        except ImageNotFound:
            raise SandboxError(
                f"sandbox image {name} not found; run `agentguard sandbox build`", image=name
            ) from None
        except DockerException as exc:
            raise SandboxError(f"cannot inspect sandbox image {name}: {exc}", image=name) from exc
        labels = (info.get("Config") or {}).get("Labels") or {}
        if labels.get(RUNNER_PROTOCOL) != str(PROTOCOL):
            raise SandboxError(
                f"sandbox image {name} was built for another agentguard version; "
                "run `agentguard sandbox build`",
                image=name,
            )
        with self._images_lock:
            self._images[language] = name
        return name

    def _spawn(self, key: PoolKey, call_id: str | None, pooled: bool = False) -> Live:
        image = self._image(key.language)
        endpoint = open_egress(self.egress, key, self.workspace)
        try:
            with rwrun.making(self.api, self.workspace, key.profile):
                config = container_config(
                    self.api,
                    image=image,
                    key=key,
                    workspace=self.workspace,
                    call_id=call_id,
                    pooled=pooled,
                    egress=endpoint,
                    protected=self.protected,
                )
                live = spawn(self.api, config, key)
        except BaseException:
            if endpoint is not None:
                endpoint.close()
            raise
        live.kept = mount_key(config["host_config"].get("Mounts") or [])
        live.egress = endpoint
        return live

    def _spawn_pooled(self, key: PoolKey) -> Live:
        return self._spawn(key, None, pooled=True)

    def _kill_now(self, live: Live) -> None:
        # Killed before its stdin closes: closing it first would hand the runner EOF, and the runner
        # would run whatever part of the code it had (a send cut short) until the kill lands.
        try:
            remove(self.api, live.id)
        except Exception:  # noqa: BLE001 - the engine hiccuped: retry in the background, reap catches the rest
            self._remover.discard(live)
            return
        live.close_socket()

    def _result(
        self, live: Live, ex: Exchange, key: PoolKey, call_id: str | None, warm: bool
    ) -> SandboxResult:
        reason, error, clean = ending(self.api, live.id, ex)
        if clean:
            # The runner ended everything and exits; the engine removes the container (auto-remove)
            # and the remover only confirms it (the engine's destroy event; a listing as fallback).
            self._remover.submit(live)
        else:
            # A run that overstayed, a report the host could not read (the runner's state is
            # unknown), or no report: gone before the caller hears of it.
            self._kill_now(live)
        return build_result(ex, key, reason, error, call_id=call_id, container_id=live.id, warm=warm)
