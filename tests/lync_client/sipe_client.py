"""Python side of sipe_driver: start the pidgin-sipe driver, send commands, wait for events.

Standard library only; run with /usr/bin/python3.

    from sipe_client import SipeClient
    with SipeClient(driver="build/.../sipe_driver", user="sip:alice@example.test",
                    password="secret", server="127.0.0.1:5061",
                    trust_cert="server.pem") as alice:
        alice.wait_for("signed_on", timeout=15)
        alice.send("im sip:bob@example.test hello")
        ev = alice.wait_for("im_received", lambda e: e["from"] == "sip:bob@example.test")

Every event the driver prints is one JSON object with an "event" key (see README.md). Each event
is matched by at most one wait_for() call, so events that arrive early are never lost. All output
(events, stray stdout lines, stderr) is kept and included in TimeoutError messages.

Note: SIPE seeds its random numbers (Call-ID, tags, branches) from the clock in seconds. Two
clients started within the same second produce identical Call-IDs: start() waits so that
consecutive clients of this process start at least 1.1 s apart.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

_last_start = 0.0
_last_start_lock = threading.Lock()
MIN_START_SPACING = 1.1


class SipeClientError(Exception):
    pass


class SipeClient:
    def __init__(self, driver, user, password="", server="127.0.0.1:5061", trust_cert=None,
                 login=None, transport="tls", auth="ntlm", user_agent=None, user_dir=None,
                 debug_file=None, verbose=False, extra_args=(), env=None, host_name=None,
                 prefix=()):
        self.driver = driver
        # Runs the driver under this command (e.g. ["ip", "netns", "exec", NAME], which execs:
        # the PID stays the driver's).
        self.prefix = list(prefix)
        self.user = user
        self.args = [driver, "--user", user, "--password", password, "--server", server,
                     "--transport", transport, "--auth", auth]
        if login:
            self.args += ["--login", login]
        if trust_cert:
            self.args += ["--trust-cert", trust_cert]
        if user_agent:
            self.args += ["--user-agent", user_agent]
        if debug_file:
            self.args += ["--debug-file", debug_file]
        if host_name:  # SIPE hashes it into its epid: another endpoint of the same user
            self.args += ["--host-name", host_name]
        if verbose:
            self.args += ["--verbose"]
        self.args += list(extra_args)
        self._own_user_dir = user_dir is None
        self.user_dir = user_dir
        self.env = env
        self.proc = None
        self.events = []        # parsed JSON events, in arrival order
        self.raw_stdout = []    # every stdout line as received
        self.stderr_lines = []
        self._consumed = set()  # indices of events already returned by wait_for
        self._cond = threading.Condition()
        self._threads = []
        self._stdout_closed = False

    # -- process lifetime -------------------------------------------------------------------

    def start(self):
        global _last_start
        if self.proc is not None:
            raise SipeClientError("already started")
        if self._own_user_dir:
            self.user_dir = tempfile.mkdtemp(prefix="sipe-driver-")
        with _last_start_lock:
            wait = _last_start + MIN_START_SPACING - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            _last_start = time.monotonic()
        self.proc = subprocess.Popen(self.prefix + self.args + ["--user-dir", self.user_dir],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env)
        for target, stream in ((self._read_stdout, self.proc.stdout),
                               (self._read_stderr, self.proc.stderr)):
            t = threading.Thread(target=target, args=(stream,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _read_stdout(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.raw_stdout.append(line)
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                if isinstance(event, dict) and "event" in event:
                    self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._stdout_closed = True
            self._cond.notify_all()

    def _read_stderr(self, stream):
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, command):
        """Sends one command line (e.g. "im sip:bob@example.test hi")."""
        if not self.running():
            raise SipeClientError("driver is not running\n" + self.output())
        try:
            self.proc.stdin.write((command.rstrip("\n") + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise SipeClientError("cannot send %r: %s\n%s" % (command, e, self.output()))

    def quit(self, timeout=10.0):
        """Asks the driver to sign off and exit; falls back to stop(). Returns the exit code."""
        if self.running():
            try:
                self.send("quit")
            except SipeClientError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.stop()

    def stop(self, term_timeout=10.0, kill_timeout=5.0):
        """Stops the driver by PID: SIGTERM, then SIGKILL after term_timeout. Returns the code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=term_timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=kill_timeout)
        for stream in (self.proc.stdin,):
            try:
                stream.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads = []
        if self._own_user_dir and self.user_dir and os.path.isdir(self.user_dir):
            shutil.rmtree(self.user_dir, ignore_errors=True)
        return self.proc.returncode

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.quit()
        return False

    # -- events -----------------------------------------------------------------------------

    def _find(self, event, predicate):
        for i, ev in enumerate(self.events):
            if i in self._consumed or ev.get("event") != event:
                continue
            if predicate is None or predicate(ev):
                return i
        return None

    def wait_for(self, event, predicate=None, timeout=10.0):
        """Returns the first not-yet-matched event named `event` for which predicate(ev) holds.

        Raises TimeoutError (with all driver output) after `timeout` seconds, or sooner when
        the driver's stdout closes without such an event.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                i = self._find(event, predicate)
                if i is not None:
                    self._consumed.add(i)
                    return self.events[i]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stdout_closed:
                    break
                self._cond.wait(min(remaining, 0.5))
        why = "driver exited" if self._stdout_closed else "timed out after %.1fs" % timeout
        raise TimeoutError("no %r event (%s)\n%s" % (event, why, self.output()))

    def skip(self, event=None):
        """Marks every event received so far (named `event`, or all) as matched, so later
        wait_for() calls only see what arrives after this call. Returns how many were skipped."""
        with self._cond:
            n = 0
            for i, ev in enumerate(self.events):
                if i not in self._consumed and (event is None or ev.get("event") == event):
                    self._consumed.add(i)
                    n += 1
            return n

    def expect_none(self, event, predicate=None, duration=1.0):
        """Fails (AssertionError) if a matching event arrives within `duration` seconds."""
        deadline = time.monotonic() + duration
        with self._cond:
            while True:
                i = self._find(event, predicate)
                if i is not None:
                    raise AssertionError("unexpected %r event: %r\n%s"
                                         % (event, self.events[i], self.output()))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, 0.5))

    def ping(self, timeout=5.0):
        """Round-trips a ping through the driver's command loop (orders commands and events)."""
        token = "%d.%f" % (os.getpid(), time.monotonic())
        self.send("ping " + token)
        return self.wait_for("pong", lambda e: e.get("data") == token, timeout)

    def buddies(self, timeout=5.0):
        """Returns the driver's buddy list: [{"uri","group","status","message","online"}]."""
        self.ping(timeout)
        self.send("buddies")
        return self.wait_for("buddies", timeout=timeout)["buddies"]

    def output(self):
        """All output so far, for failure messages."""
        with self._cond:
            out = ["--- sipe_driver %s (pid %s) stdout ---" % (self.user, self.pid)]
            out += self.raw_stdout
            out.append("--- stderr ---")
            out += self.stderr_lines
            if self.proc is not None and self.proc.poll() is not None:
                out.append("--- exit code %s ---" % self.proc.returncode)
        return "\n".join(out)
