"""Processes and ports shared by the integration tests (tests/integration/*.py) and the
benchmarks (bench/*/run.py): children that die with the test, stops by PID with bounded waits,
free loopback ports, bounded polling, and the causeway daemon under test.

Every wait here is bounded; every stop goes to one PID the caller started (SIGTERM, then
SIGKILL), never to processes found by name.
"""

import ctypes
import os
import re
import signal
import socket
import subprocess
import time

LOOPBACK = "127.0.0.1"
STOP_GRACE_S = 5.0
KILL_WAIT_S = 10.0  # reaping after SIGKILL is bounded too
_PR_SET_PDEATHSIG = 1


# ---------------------------------------------------------------------------------------------
# Children

def _die_with_parent(death_signal):
    """A preexec_fn: the child gets `death_signal` when the thread that forked it exits. The
    setting survives execve, so it also holds for the command `ip netns exec` runs."""
    def preexec():
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, death_signal)
    return preexec


def spawn(argv, death_signal=signal.SIGKILL, **popen_kwargs):
    """Popen whose child gets `death_signal` when this test dies (killed by the ctest timeout,
    say), so no peer outlives it. Call from the main thread: the signal fires when the thread
    that forked exits."""
    return subprocess.Popen(argv, preexec_fn=_die_with_parent(death_signal), **popen_kwargs)


def _send_signal(proc, sig):
    # Until it is reaped (poll/wait) the PID stays ours, even if the process has exited.
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop_process(proc, grace_s=STOP_GRACE_S):
    """SIGTERM by PID, SIGKILL after `grace_s`. Returns the exit code (None without a process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        _send_signal(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _send_signal(proc, signal.SIGKILL)
            proc.wait(timeout=KILL_WAIT_S)
    return proc.returncode


def kill_process(proc):
    """SIGKILL by PID at once (a crash rather than a shutdown). Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        _send_signal(proc, signal.SIGKILL)
        proc.wait(timeout=KILL_WAIT_S)
    return proc.returncode


def wait_until(predicate, timeout_s, interval_s=0.05):
    """Polls `predicate` until it is true (True) or `timeout_s` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def read_text(path):
    """A log file's text so far, "" while it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Loopback ports

class PortAllocator:
    """Free loopback ports, usable for both UDP and TCP, never handed out twice in one run."""

    def __init__(self):
        self._used = set()

    def get(self):
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.bind((LOOPBACK, 0))
                port = tcp.getsockname()[1]
                if port in self._used:
                    continue
                try:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                        udp.bind((LOOPBACK, port))
                except OSError:
                    continue
            self._used.add(port)
            return port
        raise RuntimeError("no free loopback port found")


def port_in_use(port, tcp):
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def wait_port_bound(port, tcp, proc, timeout_s=5.0):
    """Waits until `proc` has bound `port` (ready to receive). False if it died or timed out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_in_use(port, tcp):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------------
# The daemon under test

class Causeway:
    """The causeway binary as a daemon, with its config, state dir and log in `workdir`.

    causeway.toml is a [general] section (state_dir = WORKDIR/state, two workers, a 5 s
    shutdown, `log_level`) followed by `config`, the test's own sections, `[metrics]
    listen = ""` when `config` has no [metrics] section and the relay's listeners off when it
    has no [turn] section. `spawn_prefix` goes
    before the command line: ("ip", "netns", "exec", NAME) runs the daemon inside a network
    namespace. `causeway user add` runs without it: it only writes the state dir's database.
    The daemon gets SIGTERM if the test dies, so it shuts down as it would in production.
    """

    def __init__(self, binary, workdir, config, log_level="debug", spawn_prefix=(),
                 start_timeout_s=30, stop_timeout_s=20):
        self.binary = binary
        self.state_dir = os.path.join(workdir, "state")
        self.config_path = os.path.join(workdir, "causeway.toml")
        self.log_path = os.path.join(workdir, "causeway.log")
        self.spawn_prefix = list(spawn_prefix)
        self.start_timeout_s = start_timeout_s  # the first start generates a certificate
        self.stop_timeout_s = stop_timeout_s    # SIGTERM drains for up to shutdown_timeout_s
        self.proc = None
        os.makedirs(workdir, exist_ok=True)
        # The metrics endpoint defaults to 127.0.0.1:9464: off unless the test configures it, so
        # daemons of tests running side by side do not fight over that port.
        metrics = "" if "[metrics]" in config else '\n[metrics]\nlisten = ""\n'
        # Likewise the media relay (127.0.0.1:3478 UDP and TCP by default).
        if "[turn]" not in config:
            metrics += '\n[turn]\nudp = []\ntcp = []\n'
        with open(self.config_path, "w") as f:
            f.write('[general]\nstate_dir = "%s"\nworkers = 2\nshutdown_timeout_s = 5\n'
                    'log_level = "%s"\n\n%s%s' % (self.state_dir, log_level, config, metrics))

    @property
    def self_signed_cert(self):
        """The certificate causeway makes on first start when the config names none."""
        return os.path.join(self.state_dir, "self-signed-cert.pem")

    def add_user(self, aor, password, display_name):
        r = subprocess.run([self.binary, "--config", self.config_path, "user", "add", aor,
                            "--password", password, "--display-name", display_name],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("causeway user add %s: exit %d: %s"
                               % (aor, r.returncode, r.stdout.decode(errors="replace")))

    def log(self):
        return read_text(self.log_path)

    def start(self):
        """Starts the daemon and waits until this start logs msg=started."""
        offset = len(self.log())
        with open(self.log_path, "a") as log:
            self.proc = spawn(self.spawn_prefix + [self.binary, "--config", self.config_path],
                              death_signal=signal.SIGTERM, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        def started():
            return "msg=started" in self.log()[offset:]

        wait_until(lambda: started() or self.proc.poll() is not None, self.start_timeout_s, 0.1)
        if started():
            return
        if self.proc.poll() is not None:
            raise RuntimeError("causeway exited with %s before starting:\n%s"
                               % (self.proc.returncode, self.log()[offset:][-3000:]))
        raise RuntimeError("causeway did not log msg=started within %ds" % self.start_timeout_s)

    def stop(self):
        """SIGTERM by PID (SIGKILL after stop_timeout_s). Returns the exit code."""
        rc = stop_process(self.proc, self.stop_timeout_s)
        self.proc = None
        return rc

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_log(self, pattern, offset=0, timeout=5.0):
        """The first log line after `offset` (characters) matching `pattern`, or None."""
        rx = re.compile(pattern)
        found = []

        def search():
            found[:] = [line for line in self.log()[offset:].splitlines() if rx.search(line)][:1]
            return bool(found)

        wait_until(search, timeout, 0.1)
        return found[0] if found else None
