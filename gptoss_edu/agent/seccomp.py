"""A seccomp filter for the python tool's bubblewrap sandbox: system calls Python never needs, refused.

Namespaces, read-only mounts and a cgroup are the sandbox's boundary; this filter is defence in
depth behind it. It shrinks the kernel surface the model's code can reach: kernel exploits
tend to go through rarely used, complex system calls (io_uring, bpf, user namespaces, keyrings,
the new mount API), and ordinary Python needs none of them.

The filter is a classic BPF program (``struct sock_filter``, the format ``bwrap --seccomp FD``
reads from a file descriptor), built here from a table, with no dependency:

* the audit architecture is checked first: x86_64 and aarch64 have a table; any other ABI
  (i386 through ``int 0x80``, arm32 compat, the x32 ABI's ``nr | 0x40000000`` on x86_64) could
  name the same call by another number, so it kills the process (on x86_64 so does any number
  at or above ``0x40000000``, ``syscall(-1)`` included: no real call lives there);
* every call in :data:`DENIED` fails with ``EPERM``, a clear "Operation not permitted" the model
  can read (a kill would only show a dead process);
* a few calls are refused depending on an argument (:data:`ARGUMENT_RULES`): ``clone`` with a
  namespace flag (``EPERM``); ``clone3`` always, with ``ENOSYS``, because its flags sit in a
  struct the filter cannot read and ``ENOSYS`` makes glibc fall back to ``clone``; ``personality``
  other than the default or the query; ``socket`` outside ``AF_UNIX``/``AF_INET``/``AF_INET6``
  (netlink, packet, crypto ``AF_ALG``, vsock...) with ``EAFNOSUPPORT``, what the kernel answers for
  a family it lacks, so that libraries probing a family treat it as absent;
* everything else is allowed.

Only the low 32 bits of an argument are compared (seccomp data is little-endian on both
architectures, so they are the first word): the kernel itself reads ``clone`` flags,
``personality`` and the socket family as 32-bit values.
"""
from __future__ import annotations

import errno
import platform
import struct
import sys
from dataclasses import dataclass

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # EM_X86_64 / EM_AARCH64 | 64-bit | little-endian
X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
OFFSET_NR, OFFSET_ARCH, OFFSET_ARGS = 0, 4, 16

# Classic BPF opcodes used here (linux/bpf_common.h): class | size | mode, or class | op | source.
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = 32-bit word of seccomp_data at offset k
JEQ_K, JGE_K, JSET_K = 0x15, 0x35, 0x45  # BPF_JMP | BPF_JEQ/JGE/JSET | BPF_K: compare A with k
RET_K = 0x06  # BPF_RET | BPF_K: return k

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000  # | errno, in the low 16 bits
RET_ALLOW = 0x7FFF0000
MAX_INSTRUCTIONS = 4096  # BPF_MAXINSNS

# clone flags that create namespaces (CLONE_NEWTIME, 0x80, exists only for clone3/unshare: in clone's
# flags those bits are the exit signal).
CLONE_NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                         "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                         "CLONE_NEWNET": 0x40000000}
SOCKET_FAMILIES_ALLOWED = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
PERSONALITIES_ALLOWED = {"PER_LINUX": 0, "query (0xffffffff)": 0xFFFFFFFF}


@dataclass(frozen=True)
class Syscall:
    """One system call: its number on each architecture (None: it does not exist there) and why it is refused."""

    name: str
    x86_64: int | None
    aarch64: int | None
    why: str = ""

    def number(self, arch: str) -> int | None:
        return getattr(self, arch)


_PTRACE = "reads or writes another process"
_MODULES = "loads kernel code"
_KEYS = "kernel keyrings, a frequent exploit target"
_MOUNT = "changes mounts (the old and the new mount API)"
_NAMESPACES = "enters or creates namespaces"
_URING = "io_uring, a large and often exploited interface"
_ADMIN = "system administration"
_HANDLES = "opens files by handle, around path checks"

# Numbers from the kernel's arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h
# (aarch64); tests/test_agent_seccomp.py compares them with the installed headers where there are some.
DENIED: tuple[Syscall, ...] = (
    Syscall("ptrace", 101, 117, _PTRACE),
    Syscall("process_vm_readv", 310, 270, _PTRACE),
    Syscall("process_vm_writev", 311, 271, _PTRACE),
    Syscall("pidfd_getfd", 438, 438, _PTRACE),
    Syscall("process_madvise", 440, 440, _PTRACE),
    Syscall("kexec_load", 246, 104, _MODULES),
    Syscall("kexec_file_load", 320, 294, _MODULES),
    Syscall("init_module", 175, 105, _MODULES),
    Syscall("finit_module", 313, 273, _MODULES),
    Syscall("delete_module", 176, 106, _MODULES),
    Syscall("bpf", 321, 280, "eBPF programs and maps: kernel attack surface"),
    Syscall("perf_event_open", 298, 241, "performance counters: side channels, kernel attack surface"),
    Syscall("userfaultfd", 323, 282, "stalls the kernel mid-copy: a classic exploit helper"),
    Syscall("keyctl", 250, 219, _KEYS),
    Syscall("add_key", 248, 217, _KEYS),
    Syscall("request_key", 249, 218, _KEYS),
    Syscall("mount", 165, 40, _MOUNT),
    Syscall("umount2", 166, 39, _MOUNT),
    Syscall("pivot_root", 155, 41, _MOUNT),
    Syscall("move_mount", 429, 429, _MOUNT),
    Syscall("open_tree", 428, 428, _MOUNT),
    Syscall("open_tree_attr", 467, 467, _MOUNT),
    Syscall("fsopen", 430, 430, _MOUNT),
    Syscall("fsconfig", 431, 431, _MOUNT),
    Syscall("fsmount", 432, 432, _MOUNT),
    Syscall("fspick", 433, 433, _MOUNT),
    Syscall("mount_setattr", 442, 442, _MOUNT),
    Syscall("unshare", 272, 97, _NAMESPACES),
    Syscall("setns", 308, 268, _NAMESPACES),
    Syscall("io_uring_setup", 425, 425, _URING),
    Syscall("io_uring_enter", 426, 426, _URING),
    Syscall("io_uring_register", 427, 427, _URING),
    Syscall("swapon", 167, 224, _ADMIN),
    Syscall("swapoff", 168, 225, _ADMIN),
    Syscall("reboot", 169, 142, _ADMIN),
    Syscall("acct", 163, 89, _ADMIN),
    Syscall("quotactl", 179, 60, _ADMIN),
    Syscall("quotactl_fd", 443, 443, _ADMIN),
    Syscall("syslog", 103, 116, "reads the kernel log (addresses that defeat KASLR)"),
    Syscall("lookup_dcookie", 212, 18, _ADMIN),
    Syscall("open_by_handle_at", 304, 265, _HANDLES),
    Syscall("name_to_handle_at", 303, 264, _HANDLES),
    Syscall("iopl", 172, None, "raw I/O port access"),
    Syscall("ioperm", 173, None, "raw I/O port access"),
)

CLONE = Syscall("clone", 56, 220, "refused (EPERM) when its flags hold a CLONE_NEW* namespace flag")
CLONE3 = Syscall("clone3", 435, 435, "refused with ENOSYS (flags out of the filter's reach); glibc falls back to clone")
PERSONALITY = Syscall("personality", 135, 92, "refused (EPERM) unless PER_LINUX or the 0xffffffff query")
SOCKET = Syscall("socket", 41, 198, "refused (EAFNOSUPPORT) unless AF_UNIX, AF_INET or AF_INET6")
ARGUMENT_RULES: tuple[Syscall, ...] = (CLONE, CLONE3, PERSONALITY, SOCKET)


def host_architecture() -> str | None:
    """``"x86_64"`` or ``"aarch64"`` when this Python runs as that 64-bit ABI (the filter's tables), else None."""
    if not sys.platform.startswith("linux") or sys.maxsize < 2**32:
        return None
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        platform.machine().lower())


def denied_count(arch: str) -> int:
    """How many system calls of :data:`DENIED` exist on ``arch`` (and so are refused there)."""
    return sum(syscall.number(arch) is not None for syscall in DENIED)


def describe(arch: str) -> str:
    """One line for :attr:`ExecutionResult.limits`: what the filter refuses on ``arch``."""
    return (f"seccomp: {denied_count(arch)} syscalls denied (EPERM), plus namespace clone flags, clone3, "
            "personality changes and socket families other than unix/inet/inet6")


def _assemble(lines: list[tuple[int, str | int, str | int, int] | str]) -> bytes:
    """Classic BPF bytes from instructions whose jump targets may be labels (strings in ``lines`` mark them).

    A conditional jump's ``jt``/``jf`` is a label or 0 (the next instruction); jumps only go forward,
    at most 255 instructions.
    """
    positions: dict[str, int] = {}
    instructions = []
    for line in lines:
        if isinstance(line, str):
            positions[line] = len(instructions)
        else:
            instructions.append(line)
    if len(instructions) > MAX_INSTRUCTIONS:
        raise ValueError(f"seccomp program of {len(instructions)} instructions exceeds {MAX_INSTRUCTIONS}")

    def offset(index: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        jump = positions[target] - index - 1
        if not 0 <= jump <= 255:
            raise ValueError(f"jump to {target!r} from instruction {index} is out of reach ({jump})")
        return jump

    return b"".join(struct.pack("=HBBI", code, offset(index, jt), offset(index, jf), k)
                    for index, (code, jt, jf, k) in enumerate(instructions))


def _load(offset: int) -> tuple[int, int, int, int]:
    return (LD_W_ABS, 0, 0, offset)


def _architecture_section(arch: str) -> list:
    """Dispatch on the syscall number for ``arch`` (its ``nr`` is loaded first)."""
    lines: list = [arch, _load(OFFSET_NR)]
    if arch == "x86_64":
        lines.append((JGE_K, "kill", 0, X32_SYSCALL_BIT))
    lines += [(JEQ_K, "eperm", 0, number) for number in sorted({s.number(arch) for s in DENIED} - {None})]
    targets = {CLONE: "clone_flags", CLONE3: "enosys", PERSONALITY: "personality", SOCKET: "socket_family"}
    lines += [(JEQ_K, targets[rule], 0, rule.number(arch)) for rule in ARGUMENT_RULES]
    lines.append((RET_K, 0, 0, RET_ALLOW))
    return lines


def program() -> bytes:
    """The filter as ``struct sock_filter`` bytes in this machine's byte order, ready for ``bwrap --seccomp``."""
    first_argument = OFFSET_ARGS  # the low word of args[0]
    x86_64, aarch64 = AUDIT_ARCH["x86_64"], AUDIT_ARCH["aarch64"]
    lines: list = [_load(OFFSET_ARCH), (JEQ_K, "x86_64", 0, x86_64), (JEQ_K, "aarch64", "kill", aarch64)]
    for arch in AUDIT_ARCH:
        lines += _architecture_section(arch)
    namespace_flags = 0
    for flag in CLONE_NAMESPACE_FLAGS.values():
        namespace_flags |= flag
    lines += ["clone_flags", _load(first_argument), (JSET_K, "eperm", "allow", namespace_flags)]
    lines += ["personality", _load(first_argument)]
    lines += [(JEQ_K, "allow", 0, value) for value in PERSONALITIES_ALLOWED.values()]
    lines += [(RET_K, 0, 0, RET_ERRNO | errno.EPERM)]
    lines += ["socket_family", _load(first_argument)]
    lines += [(JEQ_K, "allow", 0, family) for family in SOCKET_FAMILIES_ALLOWED.values()]
    lines += [(RET_K, 0, 0, RET_ERRNO | errno.EAFNOSUPPORT)]
    lines += ["allow", (RET_K, 0, 0, RET_ALLOW),
              "eperm", (RET_K, 0, 0, RET_ERRNO | errno.EPERM),
              "enosys", (RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
              "kill", (RET_K, 0, 0, RET_KILL_PROCESS)]
    return _assemble(lines)
