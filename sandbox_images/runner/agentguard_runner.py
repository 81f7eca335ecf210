"""PID 1 of every agentguard sandbox container (standard library only, runs inside the image).

The container is started before any code exists (warm pool), so this process is already up
and waiting when a call arrives. Protocol, all over the container's attached stdio:

* stdin: one JSON header line, then the code. ``code_bytes`` in the header is the code's length:
  the code runs as soon as that many bytes are in, and never when stdin ends before them (a send
  cut short). A header without it runs nothing (protocol 1 runners ran whatever came before EOF,
  so the host refuses their images).
* stdout: records ``kind (1 byte) | length (4 bytes, big endian) | payload``; ``r`` (first, empty)
  says the runner is ready, ``o`` and ``e`` carry the user's stdout and stderr, ``x`` (last) the
  end report as JSON.

User code never writes to the container's stdout itself: it runs in a child whose stdout and
stderr are pipes read here, so it cannot forge the end report. The child is forked before the
runner says ready, while the container waits in the pool: it reads the request from stdin itself,
hands the header line to this process over a pipe it then closes, drops stdin and becomes the
user's program (a warm call pays for no fork and no extra hand-over). When the child exits,
every other process in the container is killed (a background process cannot outlive the call),
and when this process exits the kernel kills whatever is left in the PID namespace.
"""

import atexit
import contextlib
import json
import linecache
import os
import select
import signal
import struct
import sys
import time
import traceback
import types

PROTOCOL = 2  # 2: the request carries code_bytes, a short one runs nothing (1 read to EOF)
CHUNK = 65536
SHELL = "/bin/bash"
# Output is sent in batches: when CHUNK bytes are waiting, when they have waited this long, and
# with the end report (a short program's output and report cross the engine in one write).
FLUSH_S = 0.05
_LIBC = []


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def record(kind, payload):
    write_all(1, kind + struct.pack(">I", len(payload)) + payload)


def set_dumpable(flag):
    """Non-dumpable: user code (same uid) can neither ptrace this process nor read its memory."""
    try:
        if not _LIBC:
            import ctypes

            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        _LIBC[0].prctl(4, int(flag), 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:  # noqa: BLE001, S110 - best effort; the container is the boundary
        pass


# The runner's own seccomp filter, on top of the engine's (which it cannot replace without root):
# (native audit arch, io_setup, [(syscall, index of its mode argument, index of its open flags or None)]).
_ARCH = {
    "x86_64": (
        0xC000003E,
        206,
        [
            (90, 1, None),
            (91, 1, None),
            (268, 2, None),
            (452, 2, None),
            (85, 1, None),
            (133, 1, None),
            (259, 2, None),
            (2, 2, 1),
            (257, 3, 2),
        ],
    ),
    # The generic table (arm64, riscv64): fchmod, fchmodat, fchmodat2, mknodat, openat.
    "aarch64": (0xC00000B7, 0, [(52, 1, None), (53, 2, None), (452, 2, None), (33, 2, None), (56, 3, 2)]),
    "riscv64": (0xC00000F3, 0, [(52, 1, None), (53, 2, None), (452, 2, None), (33, 2, None), (56, 3, 2)]),
}
_ALLOW, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026  # SECCOMP_RET_ALLOW, _ERRNO | errno
_O_CREATE = 0x40 | 0x400000  # O_CREAT | __O_TMPFILE: the open flags that take a mode


def seccomp_program(machine):
    """The filter as (code, jt, jf, k) tuples: io_uring (425-427, a large kernel surface the engine's
    profile allows before Docker 25) denied; openat2 (flags in a struct no filter can read) ENOSYS;
    io_setup ENOSYS (its events come out of the host's one fs.aio-max-nr pool, which one call can
    take whole; libaio users fall back to plain I/O);
    a set-user-ID or set-group-ID mode bit in chmod, open or mknod denied (a rw workspace is the
    host's file system: a setuid file left there runs as its owner for any local user); any other
    ABI than the native one (i386 and x32 on x86_64) ENOSYS, so that no other numbering goes round it."""
    arch, io_setup, moded = _ARCH[machine]
    prog = [(0x20, 0, 0, 4), (0x15, 1, 0, arch), (0x06, 0, 0, _ENOSYS)]  # A = arch
    # x32 calls come with the native arch and nr | 0x40000000; masking the bit off let its own
    # numbers (512-547, io_setup among them) past every rule: refused whole, like i386.
    prog += [(0x20, 0, 0, 0), (0x45, 0, 1, 0x40000000), (0x06, 0, 0, _ENOSYS)]  # A = nr
    prog += [(0x35, 0, 2, 425), (0x25, 1, 0, 427), (0x06, 0, 0, _EPERM)]
    prog += [(0x15, 1, 0, 437), (0x15, 0, 1, io_setup), (0x06, 0, 0, _ENOSYS)]
    for nr, mode, flags in moded:
        body = [] if flags is None else [(0x20, 0, 0, 16 + 8 * flags), (0x45, 0, 3, _O_CREATE)]
        body += [(0x20, 0, 0, 16 + 8 * mode), (0x45, 0, 1, 0o6000), (0x06, 0, 0, _EPERM)]
        body += [(0x06, 0, 0, _ALLOW)]  # A no longer holds nr: this block ends the program's run
        prog += [(0x15, 0, len(body), nr), *body]
    return [*prog, (0x06, 0, 0, _ALLOW)]


def install_seccomp():
    """Add ``seccomp_program`` to this process; every descendant keeps it. Raises if it cannot."""
    import ctypes

    class Insn(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_ushort),
            ("jt", ctypes.c_ubyte),
            ("jf", ctypes.c_ubyte),
            ("k", ctypes.c_uint),
        ]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Insn))]

    machine = os.uname().machine
    if machine not in _ARCH:
        raise OSError(f"no seccomp filter for {machine}: the sandbox runs on x86_64, aarch64 or riscv64")
    code = seccomp_program(machine)
    insns = (Insn * len(code))(*(Insn(*i) for i in code))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (the engine sets it too)
    if libc.prctl(22, 2, ctypes.byref(Prog(len(code), insns)), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "cannot install the sandbox's seccomp filter")


def read_int(path, key=None):
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if key is None:
                    return int(parts[0])
                if parts and parts[0] == key:
                    return int(parts[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_ns():
    v1 = read_int("/sys/fs/cgroup/cpuacct/cpuacct.usage")
    if v1 is not None:
        return v1
    usec = read_int("/sys/fs/cgroup/cpu.stat", "usage_usec")
    return None if usec is None else usec * 1000


def peak_bytes():
    v1 = read_int("/sys/fs/cgroup/memory/memory.max_usage_in_bytes")
    return v1 if v1 is not None else read_int("/sys/fs/cgroup/memory.peak")


def oom_kills():
    v1 = read_int("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill")
    return v1 if v1 is not None else read_int("/sys/fs/cgroup/memory.events", "oom_kill")


def read_request():
    """(header line, code) from stdin; exits (nothing ran) when stdin ends before the whole request.

    The code is None when the header gives no length the code could have: nothing is read after
    it (the runner, PID 1, reports the header; see ``parse_header``)."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(0, CHUNK)
        if not chunk:
            os._exit(0)  # the host went away before sending code: nothing to do
        data += chunk
    line, _, code = data.partition(b"\n")
    try:
        size = code_bytes(json.loads(line))
    except (ValueError, TypeError, AttributeError):
        return line, None
    chunks = [code]
    have = len(code)
    while have < size:
        chunk = os.read(0, max(CHUNK, size - have))
        if not chunk:
            os._exit(0)  # cut short: the rest never came, so no part of it runs
        chunks.append(chunk)
        have += len(chunk)
    return line, b"".join(chunks)[:size]


def code_bytes(header):
    """The code's length the header gives; raises ValueError when it gives none the code could have."""
    size = header.get("code_bytes")
    if type(size) is not int or size < 0:
        raise ValueError("no code length")
    return size


def child(language, out_w, err_w, head_w, close_fds):
    """In the forked child: wire stdio to the pipes, wait for the request, become the user's program."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler: exec makes it SIG_DFL
    for fd in close_fds:
        os.close(fd)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    for fd in (out_w, err_w):
        os.close(fd)
    if language == "python":
        warm_up()
    os.write(head_w, b"w")  # set up: the runner may say ready
    line, code = read_request()
    write_all(head_w, line)
    os.close(head_w)  # the runner has the whole header; the program cannot write to it
    header, error = parse_header(line)
    if error is not None:
        os._exit(0)  # the runner reports it; nothing runs
    cwd = header.get("cwd") or "/tmp"
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)  # the program never reads the host's stream
    os.close(devnull)
    try:
        os.chdir(cwd)
    except OSError as exc:
        # Running elsewhere would silently show the code a different directory than it asked for.
        os.write(2, f"agentguard sandbox: cannot enter {cwd}: {exc.strerror}\n".encode())
        os._exit(126)
    if language == "shell":
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        if len(code) < 65536 and b"\0" not in code:
            os.execv(SHELL, ["bash", "-c", code])  # noqa: S606
        fd = os.memfd_create("script", 0)
        write_all(fd, code)
        os.execv(SHELL, ["bash", f"/proc/self/fd/{fd}"])  # noqa: S606
    run_python(code)


def warm_up():
    """Do once, while the container waits, what running the code does first: a forked child copies
    each memory page it first writes to, and compiling (the first time) touches a hundred or two."""
    set_dumpable(0)
    compile("print(6 * 7)\n", "<sandbox>", "exec")
    types.ModuleType("__main__")
    b"".decode("utf-8-sig").splitlines(True)


def finish(status):
    """Exit like the interpreter would (threads joined, atexit run, output flushed), minus finalization."""
    threading = sys.modules.get("threading")
    if threading is not None and hasattr(threading, "_shutdown"):
        threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def run_python(code):
    """Behave like ``python3 -`` reading ``code``: same exit codes, same tracebacks.

    The code is compiled as the UTF-8 *text* the guard decided, never as bytes: from bytes, a
    coding declaration (``# coding: utf-7``) would make Python read another program than that text.
    """
    set_dumpable(1)
    try:
        text = code.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        print(f"SyntaxError: the code is not UTF-8 (byte {exc.start}: {exc.reason})", file=sys.stderr)
        finish(1)
    linecache.cache["<sandbox>"] = (len(text), None, text.splitlines(True), "<sandbox>")
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    sys.argv = ["-"]
    sys.path.insert(0, "")
    try:
        compiled = compile(text, "<sandbox>", "exec")
        exec(compiled, main.__dict__)  # noqa: S102 - this is the sandboxed program
    except SystemExit as exc:
        if exc.code is None:
            finish(0)
        if isinstance(exc.code, int):
            finish(exc.code & 0xFF)
        print(exc.code, file=sys.stderr)
        finish(1)
    except BaseException as exc:  # noqa: BLE001 - report like the interpreter does
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb)
        finish(1)
    finish(0)


def kill_all():
    with contextlib.suppress(OSError):
        os.kill(-1, signal.SIGKILL)  # every process of this uid in the container, except PID 1


def parse_header(line):
    """(header, None) when the runner can run it, else (None, why not)."""
    try:
        header = json.loads(line)
        if header.get("protocol") != PROTOCOL:
            return None, "runner protocol mismatch"
        int(header["output_bytes"])
        float(header["timeout_s"])
        code_bytes(header)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None, "unreadable request header"
    return header, None


def read_header(fd):
    """The header line the child hands over (it closes the pipe then); b"" if it ended first."""
    chunks = []
    while True:
        data = os.read(fd, CHUNK)
        if not data:
            os.close(fd)
            return b"".join(chunks)
        chunks.append(data)


def main():
    language = sys.argv[1]
    set_dumpable(0)
    # Python's SIGINT handler would let the code (same uid) end this process and lose its report:
    # ignored, a signal sent to a namespace's init from inside it is dropped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_seccomp()  # fails closed: a runner that cannot install it never says ready; the child inherits it
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    head_r, head_w = os.pipe()

    pid = os.fork()
    if pid == 0:
        child(language, out_w, err_w, head_w, (out_r, err_r, head_r, wake_r, wake_w))
    for fd in (out_w, err_w, head_w):
        os.close(fd)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)  # the request is the child's to read
    os.close(devnull)
    if os.read(head_r, 1) != b"w":
        os._exit(1)  # the child died while setting up: the host sees the container exit before ready
    cpu0 = cpu_ns()
    oom0 = oom_kills()
    record(b"r", b"")  # ready: the host may hand this container to a call

    line = read_header(head_r)
    if not line:
        os._exit(0)  # the host went away before sending the whole request: nothing ran
    header, error = parse_header(line)
    if error is not None:
        kill_all()
        record(b"x", json.dumps({"protocol": PROTOCOL, "reason": "error", "error": error}).encode())
        os._exit(0)
    cap = int(header["output_bytes"])
    # The timeout is enforced here, so a timed-out run still reports its memory and CPU; the host
    # waits a little longer and kills the container itself if this report never comes.
    deadline = time.monotonic() + float(header["timeout_s"])

    streams = {out_r: b"o", err_r: b"e"}
    sent = {b"o": 0, b"e": 0}
    truncated = {b"o": False, b"e": False}
    pending = bytearray()  # records not yet written (see FLUSH_S)
    flush_at = None
    poller = select.poll()
    for fd in (out_r, err_r, wake_r):
        poller.register(fd, select.POLLIN)
    status = None
    reason = None

    def reap():
        """Collect exited children (orphans are ours too: we are PID 1); True while any remain."""
        nonlocal status
        while True:
            try:
                got, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if got == 0:
                return True
            if got == pid:
                status = st

    while True:
        if status is not None:
            if not streams:
                break
            kill_all()  # the main program ended: nothing it started may outlive it
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            reason = "timeout"
            break
        if flush_at is not None:
            if flush_at <= now:
                write_all(1, pending)
                pending.clear()
                flush_at = None
            else:
                remaining = min(remaining, flush_at - now)
        for fd, _ in poller.poll(remaining * 1000):
            if fd == wake_r:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                reap()
                continue
            kind = streams[fd]
            data = os.read(fd, CHUNK)
            if not data:
                poller.unregister(fd)
                os.close(fd)
                del streams[fd]
                continue
            room = cap - sent[kind]
            if len(data) > room:
                data = data[:room]
                truncated[kind] = True
                reason = "output_limit"
            if data:
                pending += kind + struct.pack(">I", len(data)) + data
                sent[kind] += len(data)
                if len(pending) >= CHUNK:
                    write_all(1, pending)
                    pending.clear()
                    flush_at = None
                elif flush_at is None:
                    flush_at = time.monotonic() + FLUSH_S
        if reason is not None:
            break
        if not streams and status is None:
            reap()

    kill_all()
    end = time.monotonic() + 2.0
    while reap() and time.monotonic() < end:
        kill_all()
        poller.poll(20)
    exit_code = None
    sig = None
    if status is not None:
        code_ = os.waitstatus_to_exitcode(status)
        sig = -code_ if code_ < 0 else None
        exit_code = 128 + sig if sig is not None else code_
    ooms = oom_kills()
    oom = oom0 is not None and ooms is not None and ooms > oom0
    if reason is None:
        if status is None:
            reason = "error"
        else:
            reason = "oom" if oom and sig == signal.SIGKILL else "exited"
    cpu1 = cpu_ns()
    report = {
        "protocol": PROTOCOL,
        "reason": reason,
        "exit_code": exit_code if reason in ("exited", "oom") else None,
        "signal": sig,
        "oom_kills": (ooms - oom0) if oom else 0,
        "peak_memory_bytes": peak_bytes(),
        "cpu_time_ms": None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / 1e6,
        "stdout_truncated": truncated[b"o"],
        "stderr_truncated": truncated[b"e"],
    }
    payload = json.dumps(report).encode()
    write_all(1, bytes(pending) + b"x" + struct.pack(">I", len(payload)) + payload)
    os._exit(0)


if __name__ == "__main__":
    main()
