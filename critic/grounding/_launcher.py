"""The sandbox's first process: builds the unshare world, sets limits, runs the program.

Its text runs as ``python -I -S -c`` (standard library only) with one
argument, its settings (marshalled), as PID 1 of the namespaces bubblewrap or
``unshare`` made.

With ``unshare`` it first builds the filesystem view bubblewrap would: a
read-only tmpfs root holding read-only binds of ``/usr``, ``/etc`` and the
interpreter's prefix, a minimal ``/dev``, a fresh ``/proc``, size-limited
tmpfs on ``/tmp``, ``/var/tmp`` and ``/dev/shm``, and the working directory,
the one writable host path. The host's root is detached, so no host socket,
file or process is reachable by path. That needs privileges (root, or root of
the new user namespace), so it happens here, before the program starts.

Then it forks the program: rlimits set, a fresh uid when we are root (root
ignores ``RLIMIT_NPROC``), no capabilities and no new privileges otherwise. It
stays privileged itself, so the program cannot kill it, exits (ending the
namespace) when the critic process's end of the lifeline pipe closes, and
writes one JSON line to the status pipe: the exit status or signal, and the
CPU time used, which tells the hard CPU limit's SIGKILL from any other.
"""

from __future__ import annotations

import marshal
import os
import resource
import sys

# Not typing.TYPE_CHECKING: importing typing would add ~11 ms to every run.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC = 0x20, 0x1000, 0x4000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
MNT_DETACH = 2
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
# pivot_root has no libc wrapper.
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 224}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# Flags a bind remount must keep: in a user namespace the kernel locks them.
KEPT = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
        "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}


class System:
    """The few system calls the standard library lacks, through libc."""

    def __init__(self) -> None:
        import ctypes

        self._ctypes = ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            errno = self._ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        def arg(text: str | None) -> bytes | None:
            return None if text is None else text.encode()

        self._check(self._libc.mount(arg(source), arg(target), arg(fstype),
                                     self._ctypes.c_ulong(flags), arg(data)), f"mount {target}")

    def umount(self, target: str) -> None:
        self._check(self._libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")

    def pivot_root(self, new: str, old: str) -> None:
        number = PIVOT_ROOT[os.uname().machine]
        self._check(self._libc.syscall(number, new.encode(), old.encode()), "pivot_root")

    def prctl(self, option: int, value: int) -> None:
        self._check(self._libc.prctl(option, self._ctypes.c_ulong(value), 0, 0, 0), "prctl")


def unescape(path: str) -> str:
    """A mountinfo path: space, tab, newline and backslash come octal-escaped."""
    for code in ("040", "011", "012", "134"):
        path = path.replace("\\" + code, chr(int(code, 8)))
    return path


def submounts(top: str, mountinfo: str) -> list[tuple[str, int]]:
    """Mount points at or under ``top`` with the flags a remount must keep."""
    found = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as table:
        for line in table:
            fields = line.split()
            point = unescape(fields[4])
            if point == top or point.startswith(top.rstrip("/") + "/"):
                kept = sum(KEPT.get(option, 0) for option in fields[5].split(","))
                found.append((point, kept))
    return found


def read_only(system: System, top: str) -> None:
    # Only the host's /proc is mounted while this runs, under the old root.
    for point, kept in submounts(top, "/old/proc/self/mountinfo"):
        system.mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
                     | kept)


def make_dirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def build_world(system: System, world: dict[str, Any]) -> None:
    """Turn this private mount namespace into bubblewrap's view (see the module docstring)."""
    tmpfs = MS_NOSUID | MS_NODEV
    scratch = "/tmp"  # any directory will do: the scratch tmpfs only hangs there briefly
    system.mount("tmpfs", scratch, "tmpfs", tmpfs, "mode=0755,size=1m")
    os.mkdir(f"{scratch}/old")
    os.mkdir(f"{scratch}/new")
    system.pivot_root(scratch, f"{scratch}/old")
    os.chdir("/")  # the host's root is /old from here on
    system.mount("tmpfs", "/new", "tmpfs", tmpfs, "mode=0755,size=1m")
    for path in world["read_only"]:
        make_dirs("/new" + path)
        system.mount("/old" + path, "/new" + path, None, MS_BIND | MS_REC)
        read_only(system, "/new" + path)
    for path, target in world["links"].items():
        os.symlink(target, "/new" + path)
    make_dirs("/new/dev")
    system.mount("tmpfs", "/new/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for name in DEVICES:
        open(f"/new/dev/{name}", "w").close()
        system.mount(f"/old/dev/{name}", f"/new/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/new/dev/{name}")
    private = f"mode=1777,size={world['tmp_bytes']}"
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        make_dirs("/new" + path)
        system.mount("tmpfs", "/new" + path, "tmpfs", tmpfs, private)
    make_dirs("/new" + world["workdir"])
    system.mount("/old" + world["workdir"], "/new" + world["workdir"], None, MS_BIND)
    for point, kept in submounts("/new" + world["workdir"], "/old/proc/self/mountinfo"):
        system.mount(None, point, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | kept)
    make_dirs("/new/proc")
    system.mount("proc", "/new/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Stack the host's root on the new one and cut it loose: nothing of it stays reachable.
    os.chdir("/new")
    system.pivot_root(".", ".")
    system.umount(".")
    os.chdir("/")
    # Read-only last: the folders made above live there. The program's uid owns
    # them in a user namespace, so without this it could write there.
    system.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | tmpfs)
    system.mount(None, "/dev", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)


def run_program(cfg: dict[str, Any], system: System | None) -> None:
    """In the forked child: limits, identity, then the program itself; never returns."""
    try:
        for name, value in cfg["limits"].items():
            resource.setrlimit(getattr(resource, name), tuple(value))
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setgid(cfg["uid"])
            os.setuid(cfg["uid"])
        elif system is not None:
            # Root of a user namespace: no capabilities survive the exec below.
            with open("/proc/sys/kernel/cap_last_cap") as text:
                last = int(text.read())
            for cap in range(last + 1):
                system.prctl(PR_CAPBSET_DROP, cap)
        if system is not None:
            system.prctl(PR_SET_NO_NEW_PRIVS, 1)
        # Only now: the directory is the run uid's own, closed to root without capabilities.
        os.chdir(cfg["workdir"])
        os.closerange(3, 65536)  # nothing the tools above us passed down reaches the program
        os.execv(cfg["python"], [cfg["python"], "-I", *cfg["argv"]])
    except BaseException as exc:  # the child must never return into main()
        os.write(2, f"critic sandbox launcher: {exc!r}\n".encode())
    finally:
        os._exit(127)


def watch(lifeline: int) -> None:
    """Exit, ending the namespace, once the parent's end of ``lifeline`` closes.

    Only the critic process holds that end, so this runs however it ends,
    SIGKILL included.
    """
    while os.read(lifeline, 1):
        pass
    os._exit(128 + 9)


def main() -> None:
    # marshal, built in, instead of json, whose import (with re) took 12-33 ms a run.
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    status, lifeline = int(cfg["status_fd"]), int(cfg["lifeline_fd"])
    os.set_inheritable(status, False)
    os.set_inheritable(lifeline, False)
    system = None
    if cfg["world"] is not None:
        # The host's /proc is still mounted: /proc/self names our PID out there,
        # which the parent kills to end the whole namespace at once.
        os.write(status, b'{"init": %d}\n' % int(os.readlink("/proc/self")))
        system = System()
        umask = os.umask(0o022)  # the folders made here must let the run's uid through
        build_world(system, cfg["world"])
        os.umask(umask)
        system.prctl(PR_SET_DUMPABLE, 0)  # a same-uid program must not reach our pipes
    pid = os.fork()
    if pid == 0:
        run_program(cfg, system)
    import _thread  # after the fork: the child starts single-threaded

    _thread.start_new_thread(watch, (lifeline,))
    _, wait_status, usage = os.wait4(pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(wait_status):
        code = 128 + os.WTERMSIG(wait_status)
        report = b'{"signal": %d, "cpu": %.6f}\n' % (os.WTERMSIG(wait_status), cpu)
    else:
        code = os.WEXITSTATUS(wait_status)
        report = b'{"exit": %d, "cpu": %.6f}\n' % (code, cpu)
    os.write(status, report)
    os._exit(code)


if __name__ == "__main__":
    main()
