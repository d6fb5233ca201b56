"""Process bookkeeping shared by the fixtures in this folder.

A fixture starts a server in the background, writes its pid to STATE/pid,
and later stops it from another process (CTest's cleanup fixture), so these
helpers work from the pid file alone.
"""
import os
import signal
import time


def read_pid(state):
    """The pid recorded in STATE/pid, or None when there is none."""
    try:
        with open(os.path.join(state, "pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    """True while pid runs; a zombie (exited, not yet reaped by its new
    parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _signal(pid, sig, group):
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except OSError:
        if group:
            _signal(pid, sig, False)


def terminate(pid, grace_s, group=False):
    """SIGTERM, wait up to grace_s for the process to go, then SIGKILL.
    With group, the signals go to the process group pid leads (a JVM and
    its children). Returns True when it had to kill."""
    _signal(pid, signal.SIGTERM, group)
    deadline = time.time() + grace_s
    while alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    if alive(pid):
        _signal(pid, signal.SIGKILL, group)
        return True
    return False
