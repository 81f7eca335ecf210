"""The runner's own seccomp filter (``seccomp_program``), checked without Docker.

The cBPF program is run by a small interpreter here on (arch, nr, args) samples and compared with
the rule it is meant to implement, written out independently below from the kernel's syscall tables.
Found this way: x32 calls (the x86_64 audit arch, ``nr | 0x40000000``) were let through with the
bit masked off, so x32-only numbers (512-547) never met a rule: x32 ``io_setup`` (543) took the
kernel's AIO pool past the filter on kernels built with ``CONFIG_X86_X32_ABI``. Every x32 call is
now refused with ``ENOSYS``, like every other non-native ABI. The filter is also installed for real
in a child process on this host's kernel (x86_64 only).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import struct
import subprocess
import sys
from types import ModuleType

import pytest

from agentguard.sandbox._images import SHIPPED_RECIPES

RUNNER = SHIPPED_RECIPES / "runner" / "agentguard_runner.py"
ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026
X32 = 0x40000000
O_CREAT, O_TMPFILE, O_DIRECTORY = 0o100, 0o20000000, 0o200000

# name: (audit arch, io_setup, {syscall: (nr, mode argument, open-flags argument or None)})
_X86_64 = {
    "chmod": (90, 1, None),
    "fchmod": (91, 1, None),
    "fchmodat": (268, 2, None),
    "fchmodat2": (452, 2, None),
    "creat": (85, 1, None),
    "mknod": (133, 1, None),
    "mknodat": (259, 2, None),
    "open": (2, 2, 1),
    "openat": (257, 3, 2),
}
_GENERIC = {
    "fchmod": (52, 1, None),
    "fchmodat": (53, 2, None),
    "fchmodat2": (452, 2, None),
    "mknodat": (33, 2, None),
    "openat": (56, 3, 2),
}
TABLES = {
    "x86_64": (0xC000003E, 206, _X86_64),
    "aarch64": (0xC00000B7, 0, _GENERIC),
    "riscv64": (0xC00000F3, 0, _GENERIC),
}
OTHER_ARCHES = [0x40000003, 0x40000028, 0xC000003E, 0xC00000B7, 0xC00000F3, 0]  # i386, arm, the natives


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agentguard_runner_under_test", RUNNER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected(machine: str, arch: int, nr: int, args: list[int]) -> int:
    """What the filter is documented to do (docs/sandbox.md), independently of its code."""
    native, io_setup, moded = TABLES[machine]
    if arch != native or nr & X32:
        return ENOSYS  # any other ABI, x32 included
    if 425 <= nr <= 427:
        return EPERM  # io_uring_setup, io_uring_enter, io_uring_register
    if nr in (437, io_setup):
        return ENOSYS  # openat2, io_setup
    for number, mode, flags in moded.values():
        if nr != number:
            continue
        creates = flags is None or args[flags] & (O_CREAT | O_TMPFILE)
        # the kernel takes the mode as a umode_t and the flags as an int: the low bits only
        if creates and args[mode] & 0o6000:
            return EPERM
    return ALLOW


def simulate(program: list[tuple[int, int, int, int]], arch: int, nr: int, args: list[int]) -> int:
    """A classic BPF interpreter for the instructions seccomp filters use, with the kernel's checks."""
    assert 0 < len(program) <= 4096  # BPF_MAXINSNS
    data = struct.pack("<IIQ6Q", nr & 0xFFFFFFFF, arch, 0, *(a & (2**64 - 1) for a in args))
    acc, pc = 0, 0
    while True:
        assert 0 <= pc < len(program), f"ran off the program at {pc}"
        code, jt, jf, k = program[pc]
        assert 0 <= jt <= 255
        assert 0 <= jf <= 255
        assert 0 <= k < 2**32
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            assert k % 4 == 0, k
            assert k + 4 <= len(data), k
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == 0x54:  # BPF_ALU | BPF_AND | BPF_K
            acc &= k
            pc += 1
        elif code in (0x15, 0x25, 0x35, 0x45):  # BPF_JMP | JEQ, JGT, JGE, JSET with BPF_K
            taken = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc}")


def _samples(machine: str) -> list[tuple[int, int, list[int]]]:
    native, io_setup, moded = TABLES[machine]
    nrs = set(range(600)) | {io_setup, 437, 2**31 - 1, 2**32 - 1, 0xBFFFFFFF}
    for number, _, _ in moded.values():
        nrs |= {number - 1, number, number + 1}
    nrs |= {n | X32 for n in list(nrs) if n < 1024}  # x32 numbering, 512-547 included
    values = [0, 0o644, 0o755, 0o1777, 0o2775, 0o4755, 0o6755, 0o4755 << 32, (1 << 32) | 0o2755]
    values += [O_CREAT | 1, O_TMPFILE | O_DIRECTORY | 2, O_CREAT << 32, 0o2000000, 0o4000, 0o2001]
    values += [2, 257, 2**64 - 1]  # open's and openat's numbers: a rule must not read them as nr
    rng = random.Random(20261201)
    out = []
    for nr in sorted(nrs):
        for _ in range(24):
            out.append((native, nr, [rng.choice(values) for _ in range(6)]))
        out.append((rng.choice(OTHER_ARCHES), nr, [rng.choice(values) for _ in range(6)]))
    return out


@pytest.mark.parametrize("machine", sorted(TABLES))
def test_the_program_does_what_its_rule_says(machine: str) -> None:
    program = _runner().seccomp_program(machine)
    wrong = []
    for arch, nr, args in _samples(machine):
        got, want = simulate(program, arch, nr, args), expected(machine, arch, nr, args)
        if got != want:
            wrong.append((hex(arch), hex(nr), [oct(a) for a in args], hex(got), hex(want)))
    assert wrong[:5] == [], f"{len(wrong)} wrong decisions"


@pytest.mark.parametrize("machine", sorted(TABLES))
def test_every_moded_syscall_is_refused_a_setuid_bit_and_allowed_a_plain_mode(machine: str) -> None:
    native, _, moded = TABLES[machine]
    program = _runner().seccomp_program(machine)
    for name, (nr, mode, flags) in moded.items():
        args = [0] * 6
        if flags is not None:
            args[flags] = O_CREAT
        for bits, want in ((0o4755, EPERM), (0o2755, EPERM), (0o1777, ALLOW), (0o755, ALLOW)):
            args[mode] = bits
            assert simulate(program, native, nr, args) == want, (name, oct(bits))
            assert simulate(program, native, nr | X32, args) == ENOSYS, name


def test_x32_only_io_setup_is_refused() -> None:
    # 543 is x32's io_setup: with the x32 bit masked off it met no rule at all.
    program = _runner().seccomp_program("x86_64")
    assert simulate(program, 0xC000003E, 543 | X32, [65536, 0, 0, 0, 0, 0]) == ENOSYS


_ON_THIS_KERNEL = """
import ctypes, errno, importlib.util, os, sys
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
os.chdir(sys.argv[2])
open("f", "w").close()
runner.install_seccomp()
libc = ctypes.CDLL(None, use_errno=True)
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
print(attempt(lambda: os.chmod("f", 0o4755)), attempt(lambda: os.chmod("f", 0o2755)))
print(attempt(lambda: os.chmod("f", 0o755)), attempt(lambda: os.open("g", os.O_CREAT | os.O_WRONLY, 0o755)))
print(attempt(lambda: os.open("h", os.O_CREAT | os.O_WRONLY, 0o6755)))
ctx = ctypes.c_ulong(0)
print(libc.syscall(206, 1, ctypes.byref(ctx)), ctypes.get_errno())
print(libc.syscall(39 | 0x40000000), ctypes.get_errno())  # x32 getpid
print(sorted(n for n in os.listdir(".") if os.stat(n).st_mode & 0o6000))
import mmap
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes.fromhex("b814000000cd80c3"))  # mov eax, 20 (i386 getpid); int 0x80; ret
i386_getpid = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
sys.stdout.flush()
child = os.fork()
if child == 0:
    os.write(1, f"{i386_getpid()}\\n".encode())
    os._exit(0)
status = os.waitpid(child, 0)[1]
if os.WIFSIGNALED(status):
    print("no i386 entry")  # a kernel without IA32 emulation faults instead
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the numbers used are x86_64's")
def test_the_filter_installed_in_a_child_process(tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-c", _ON_THIS_KERNEL, str(RUNNER), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "EPERM EPERM",
        "ok ok",
        "EPERM",
        "-1 38",  # io_setup: ENOSYS
        "-1 38",  # an x32 call, whether or not this kernel has the ABI
        "[]",
        done.stdout.splitlines()[-1] if done.stdout.endswith("no i386 entry\n") else "-38",  # ENOSYS
    ]
