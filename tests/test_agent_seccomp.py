"""The python tool's seccomp filter: the BPF program run by a small interpreter here, then in the real sandbox.

The unit tests decode the bytes the bubblewrap backend hands to ``bwrap --seccomp`` and execute
them against sample system calls, so they check the program itself, not the table that built it.
The sandbox tests (only where bubblewrap runs; every probe runs inside it, never unisolated) call
the refused system calls from inside through ctypes, with arguments that would fail with another
errno if the filter were absent (the control run checks that), and read the errno back.
"""
from __future__ import annotations

import errno
import re
import signal
import struct
from pathlib import Path

import pytest

from gptoss_edu.agent import seccomp
from gptoss_edu.agent.sandbox import PythonSandbox, SandboxLimits
from gptoss_edu.agent.sandbox_backends import Bubblewrap

AUDIT_ARCH_I386, AUDIT_ARCH_ARM = 0x40000003, 0x40000028
ALLOW, KILL = seccomp.RET_ALLOW, seccomp.RET_KILL_PROCESS
EPERM = seccomp.RET_ERRNO | errno.EPERM
# Everyday calls that must pass (x86_64, aarch64): read, write, openat, mmap, futex, execve, socketpair, pidfd_open.
EVERYDAY = {"read": (0, 63), "write": (1, 64), "openat": (257, 56), "mmap": (9, 222), "futex": (202, 98),
            "execve": (59, 221), "socketpair": (53, 199), "pidfd_open": (434, 434)}
HEADERS = {"x86_64": [Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), Path("/usr/include/asm/unistd_64.h")],
           "aarch64": [Path("/usr/include/asm-generic/unistd.h")]}


# --- a classic BPF interpreter for the instructions a seccomp filter may use -------------------------------------

def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    assert len(program) % 8 == 0 and 0 < len(program) // 8 <= seccomp.MAX_INSTRUCTIONS
    return [struct.unpack_from("=HBBI", program, offset) for offset in range(0, len(program), 8)]


def seccomp_data(arch: int, nr: int, args: tuple[int, ...] = ()) -> bytes:
    """``struct seccomp_data`` as the kernel lays it out (``nr`` as its 32 bits, instruction pointer 0)."""
    return struct.pack("<IIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])


def execute(program: bytes, data: bytes) -> int:
    """Run ``program`` on ``data`` like the kernel: forward jumps only, every path ends in a return."""
    instructions = decode(program)
    accumulator, pc = 0, 0
    while True:
        assert 0 <= pc < len(instructions), f"fell off the program at {pc}"
        code, jt, jf, k = instructions[pc]
        if code == seccomp.LD_W_ABS:
            assert k % 4 == 0 and k + 4 <= len(data), f"load outside seccomp_data at {k}"
            accumulator = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (seccomp.JEQ_K, seccomp.JGE_K, seccomp.JSET_K):
            taken = {seccomp.JEQ_K: accumulator == k, seccomp.JGE_K: accumulator >= k,
                     seccomp.JSET_K: bool(accumulator & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == seccomp.RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc}")


def verdict(arch: str, name_or_nr: str | int, *args: int) -> int:
    number = name_or_nr if isinstance(name_or_nr, int) else _number(arch, name_or_nr)
    return execute(seccomp.program(), seccomp_data(seccomp.AUDIT_ARCH[arch], number, args))


def _number(arch: str, name: str) -> int:
    for syscall in (*seccomp.DENIED, *seccomp.ARGUMENT_RULES):
        if syscall.name == name:
            return syscall.number(arch)
    return EVERYDAY[name][list(seccomp.AUDIT_ARCH).index(arch)]


ARCHES = list(seccomp.AUDIT_ARCH)


# --- the program, decoded and executed ---------------------------------------------------------------------------

def test_the_program_is_well_formed():
    instructions = decode(seccomp.program())
    for index, (code, jt, jf, _) in enumerate(instructions):
        if code != seccomp.RET_K:
            assert index + 1 + max(jt, jf) < len(instructions)  # every jump lands inside the program
    assert instructions[-1][0] == seccomp.RET_K


@pytest.mark.parametrize("arch", ARCHES)
def test_every_denied_syscall_gets_eperm(arch):
    denied = [syscall for syscall in seccomp.DENIED if syscall.number(arch) is not None]
    assert len({syscall.number(arch) for syscall in denied}) == len(denied)  # no two names share a number
    for syscall in denied:
        assert verdict(arch, syscall.name, 0, 0) == EPERM, syscall.name


@pytest.mark.parametrize("arch", ARCHES)
def test_everyday_syscalls_are_allowed(arch):
    for name in EVERYDAY:
        assert verdict(arch, name, 3, 0, 0) == ALLOW, name


@pytest.mark.parametrize("arch", ARCHES)
def test_clone_is_refused_only_with_namespace_flags(arch):
    sigchld, thread_flags = 17, 0x003D0F00  # fork(), and what glibc passes to start a pthread
    assert verdict(arch, "clone", sigchld) == ALLOW
    assert verdict(arch, "clone", thread_flags) == ALLOW
    assert verdict(arch, "clone", 0xFFFFFFFF_00000000 | sigchld) == ALLOW  # the kernel reads the low 32 bits only
    for name, flag in seccomp.CLONE_NAMESPACE_FLAGS.items():
        assert verdict(arch, "clone", flag | sigchld) == EPERM, name
    assert verdict(arch, "clone3", 0, 88) == seccomp.RET_ERRNO | errno.ENOSYS


@pytest.mark.parametrize("arch", ARCHES)
def test_personality_and_socket_families(arch):
    assert verdict(arch, "personality", 0) == ALLOW and verdict(arch, "personality", 0xFFFFFFFF) == ALLOW
    assert verdict(arch, "personality", 0x0040000) == EPERM  # ADDR_NO_RANDOMIZE
    for family in (1, 2, 10):  # AF_UNIX, AF_INET, AF_INET6
        assert verdict(arch, "socket", family, 1, 0) == ALLOW
    for family in (16, 17, 38, 40):  # AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK
        assert verdict(arch, "socket", family, 3, 0) == seccomp.RET_ERRNO | errno.EAFNOSUPPORT


def test_other_abis_are_killed():
    program = seccomp.program()
    x86_64 = seccomp.AUDIT_ARCH["x86_64"]
    for nr in (0, 39, 101, 0x3FFFFFFF + 1 + 101, 0xFFFFFFFF):  # x32 read, getpid, ptrace; and beyond
        expected = KILL if nr >= seccomp.X32_SYSCALL_BIT else (EPERM if nr == 101 else ALLOW)
        assert execute(program, seccomp_data(x86_64, nr)) == expected, nr
    for arch in (AUDIT_ARCH_I386, AUDIT_ARCH_ARM, 0, 0xFFFFFFFF):
        for nr in (0, 1, 26, 172):
            assert execute(program, seccomp_data(arch, nr)) == KILL


@pytest.mark.parametrize("arch", ARCHES)
def test_numbers_agree_with_the_installed_kernel_headers(arch):
    header = next((path for path in HEADERS[arch] if path.exists()), None)
    if header is None:
        pytest.skip(f"no {arch} syscall header here")
    numbers = {name: int(number) for name, number in re.findall(r"#define __NR_(\w+)\s+(\d+)\b", header.read_text())}
    checked = 0
    for syscall in (*seccomp.DENIED, *seccomp.ARGUMENT_RULES):
        if syscall.name in numbers:  # the headers may predate the newest calls
            assert syscall.number(arch) == numbers[syscall.name], syscall.name
            checked += 1
        elif syscall.number(arch) is None:
            assert syscall.name not in numbers
    assert checked >= 40


def test_description_counts_the_table():
    assert "44 syscalls denied" in seccomp.describe("x86_64") and "42 syscalls denied" in seccomp.describe("aarch64")


# --- inside the real sandbox ---------------------------------------------------------------------------------------

BUBBLEWRAP_MISSING = Bubblewrap().unavailable_reason()
ARCH = seccomp.host_architecture()
needs_filter = pytest.mark.skipif(BUBBLEWRAP_MISSING is not None or ARCH is None,
                                  reason=f"bubblewrap: {BUBBLEWRAP_MISSING}" if BUBBLEWRAP_MISSING
                                  else "no seccomp table for this machine")


def sandboxed(code: str, timeout_s: float = 10):
    return PythonSandbox(SandboxLimits(timeout_s=timeout_s, memory_bytes=512 << 20), backend="bubblewrap").run(code)


@needs_filter
def test_ordinary_code_still_runs_under_the_filter():
    code = ("import os, socket, subprocess, threading\n"
            "results = []\nworkers = [threading.Thread(target=results.append, args=(i,)) for i in range(4)]\n"
            "[w.start() for w in workers]; [w.join() for w in workers]\n"
            "a, b = socket.socketpair()\na.sendall(b'ping')\n"
            "pid = os.fork()\nif pid == 0:\n    os._exit(7)\n"
            "print(sum(range(10)), sorted(results), b.recv(4), subprocess.run(['/bin/true']).returncode,\n"
            "      os.waitpid(pid, 0)[1] >> 8, socket.socket(socket.AF_INET6).family.name)")
    result = sandboxed(code)
    assert result.error is None and result.stdout == "45 [0, 1, 2, 3] b'ping' 0 7 AF_INET6\n"
    assert "seccomp:" in result.limits and seccomp.describe(ARCH) in result.limits


@needs_filter
def test_numpy_still_imports_under_the_filter():
    pytest.importorskip("numpy")
    result = sandboxed("import numpy as np\nint(np.arange(10).sum())")
    assert result.value == "45", result.error


def _probes(arch: str) -> str:
    """Model code calling each refused syscall with arguments that fail otherwise with another errno (or succeed)."""
    number = {syscall.name: syscall.number(arch) for syscall in (*seccomp.DENIED, *seccomp.ARGUMENT_RULES)}
    calls = {
        "ptrace": "libc.ptrace(16, 0x7ffffff0, 0, 0)",  # PTRACE_ATTACH to no process: ESRCH without the filter
        "unshare": "libc.unshare(0x10000000)",  # CLONE_NEWUSER
        "setns": "libc.setns(-1, 0)",  # EBADF without the filter
        "bpf": f"libc.syscall({number['bpf']}, 1000, None, 0)",  # unknown command: EINVAL
        "perf_event_open": f"libc.syscall({number['perf_event_open']}, None, 0, -1, -1, 0)",  # EFAULT
        "keyctl": f"libc.syscall({number['keyctl']}, 0, -3, 0)",  # KEYCTL_GET_KEYRING_ID of the session: works
        "io_uring_setup": f"libc.syscall({number['io_uring_setup']}, 1, None)",  # EFAULT
        "mount": "libc.mount(b'none', b'/tmp', ctypes.c_void_p(8), 0, None)",  # unreadable type: EFAULT
        "clone_newuser": f"libc.syscall({number['clone']}, 0x10000000 | 0x200, 0, 0, 0, 0)",  # NEWUSER|FS: EINVAL
        "clone3": f"libc.syscall({number['clone3']}, None, 0)",  # EINVAL without the filter
        "personality": "libc.personality(0x0040000)",  # ADDR_NO_RANDOMIZE: allowed without the filter
        "netlink": "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close() or 0",  # works without the filter
    }
    lines = ["import ctypes, errno, socket", "libc = ctypes.CDLL(None, use_errno=True)", "def probe(name, call):",
             "    ctypes.set_errno(0)", "    try:", "        code = call()", "        number = ctypes.get_errno()",
             "    except OSError as error:", "        code, number = -1, error.errno",
             "    print(name, errno.errorcode.get(number, number) if code == -1 else 'ok')"]
    lines += [f"probe({name!r}, lambda: {call})" for name, call in calls.items()]
    return "\n".join(lines)


EXPECTED = {"ptrace": "EPERM", "unshare": "EPERM", "setns": "EPERM", "bpf": "EPERM", "perf_event_open": "EPERM",
            "keyctl": "EPERM", "io_uring_setup": "EPERM", "mount": "EPERM", "clone_newuser": "EPERM",
            "clone3": "ENOSYS", "personality": "EPERM", "netlink": "EAFNOSUPPORT"}


def _answers(stdout: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in stdout.splitlines())


@needs_filter
def test_refused_syscalls_fail_with_the_filters_errno_inside_the_sandbox():
    result = sandboxed(_probes(ARCH))
    assert result.error is None, result.error
    assert _answers(result.stdout) == EXPECTED


@needs_filter
def test_without_the_filter_the_same_probes_fail_otherwise(monkeypatch):
    """The control: bubblewrap alone answers every probe differently, so the errnos above are the filter's."""
    monkeypatch.setattr(seccomp, "host_architecture", lambda: None)
    result = sandboxed(_probes(ARCH))
    assert "no seccomp filter" in result.limits and "seccomp:" not in result.limits
    answers = _answers(result.stdout)
    assert set(answers) == set(EXPECTED)
    # unshare(CLONE_NEWUSER): bubblewrap's --disable-userns refuses it too (ENOSPC here), with an errno that varies
    assert all(answers[name] != EXPECTED[name] for name in EXPECTED if name != "unshare"), answers


@needs_filter
@pytest.mark.skipif(ARCH != "x86_64", reason="the x32 ABI exists only on x86_64")
def test_an_x32_syscall_kills_the_process():
    result = sandboxed("import ctypes\nctypes.CDLL(None).syscall(0x40000000 | 39)\nprint('survived')")
    assert "survived" not in result.stdout and result.returncode == -signal.SIGSYS
