"""How a sandbox run is isolated: the bubblewrap or ``unshare`` command line around it.

Both give the program the same world (measured by ``tests/grounding/test_sandbox.py``
on each): new PID, network, IPC, UTS and mount namespaces; a read-only root
with ``/usr``, ``/etc`` and the interpreter's prefix; a fresh ``/proc``; a
minimal ``/dev``; size-limited private tmpfs on ``/tmp``, ``/var/tmp`` and
``/dev/shm``; the working directory as the one writable host path; no host
socket reachable.

- ``bwrap`` (Debian ``bubblewrap``) builds it from its command line.
- ``unshare`` (util-linux) only makes the namespaces; the launcher builds the
  filesystem view itself (:mod:`critic.grounding._launcher`).
- ``none``: neither works here; the run goes ahead with rlimits (and, as root,
  a fresh uid) only, and the critique says so.

Neither tool's parent-death signal is used (``--die-with-parent``,
``setpriv --pdeathsig``): the kernel sends it when the *thread* that started
the process ends, and trio starts processes from worker threads that end
after 10 s idle, which killed runs longer than that (measured). The launcher
watches a pipe only our process holds open instead, and ends the sandbox
when it closes, however our process ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Literal

Isolation = Literal["bwrap", "unshare", "none"]

NOTES: dict[Isolation, str] = {
    "bwrap": "sandboxed with bubblewrap",
    "unshare": "sandboxed with unshare",
    "none": ("not isolated: neither bubblewrap nor unshare works on this machine, so the "
             "program shared the host's network, files and processes"),
}
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _outermost(paths: Iterable[str]) -> list[str]:
    """``paths`` without those inside another one (a bind brings its subtree)."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def interpreter_homes(python: str) -> list[str]:
    """Where ``python`` keeps itself and its standard library (our base one, or another)."""
    homes = [os.path.dirname(os.path.dirname(python))]
    if os.path.realpath(getattr(sys, "_base_executable", sys.executable)) == python:
        homes += [sys.base_prefix, sys.base_exec_prefix]
    return homes


def shared_paths(python: str) -> tuple[list[str], dict[str, str]]:
    """Host paths the sandbox sees read-only, and top-level symlinks to recreate.

    ``python -I`` needs its prefix (the standard library) and the shared
    libraries under ``/usr``; ``/etc`` holds the loader cache, time zones and
    certificates. Nothing else of the host is visible.
    """
    read_only = ["/usr", "/etc", *interpreter_homes(python)]
    links: dict[str, str] = {}
    for path in _TOP_LEVEL:
        if os.path.islink(path):
            links[path] = os.readlink(path)
        elif os.path.isdir(path):
            read_only.append(path)
    return _outermost(p for p in read_only if os.path.isdir(p)), links


def _folders_above(path: str, below: tuple[str, ...] = ()) -> list[str]:
    """The folders above ``path``, outermost first, skipping ``/`` and ``below``'s mounts.

    bubblewrap copies a missing folder's mode from the host (``/root`` is
    0700), which would shut the run's uid out: the sandbox makes them 0755.
    """
    parents = [str(p) for p in reversed(PurePosixPath(path).parents)]
    return [p for p in parents if p != "/" and p not in below]


def bwrap_command(bwrap: str, *, python: str, workdir: str, tmp_bytes: int, root: bool,
                  info_fd: int) -> list[str]:
    """The bubblewrap command line; the launcher's command follows it."""
    read_only, links = shared_paths(python)
    argv = [bwrap, "--new-session", "--as-pid-1",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--info-fd", str(info_fd)]
    if root:  # the launcher keeps only what it needs to switch to the run's own uid
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user"]
    for path in read_only:
        for folder in _folders_above(path):
            argv += ["--perms", "0755", "--dir", folder]
        argv += ["--ro-bind", path, path]
    for path, target in links.items():
        argv += ["--symlink", target, path]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    for path in PRIVATE_TMP:
        argv += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", path]
    for folder in _folders_above(workdir, below=PRIVATE_TMP):
        argv += ["--perms", "0755", "--dir", folder]
    argv += ["--bind", workdir, workdir, "--remount-ro", "/", "--remount-ro", "/dev",
             "--chdir", "/", "--"]
    return argv


def unshare_command(unshare: str, *, root: bool) -> list[str]:
    """The ``unshare`` command line; the launcher builds the filesystem view itself."""
    user = [] if root else ["--user", "--map-root-user"]
    return [unshare, *user, "--mount", "--net", "--pid", "--ipc", "--uts", "--fork",
            "--kill-child", "--propagation", "private", "--"]


def unshare_world(python: str, *, workdir: str, tmp_bytes: int) -> dict[str, object]:
    """What the launcher mounts on the ``unshare`` path (mirrors :func:`bwrap_command`)."""
    read_only, links = shared_paths(python)
    return {"read_only": read_only, "links": links, "workdir": workdir, "tmp_bytes": tmp_bytes}
