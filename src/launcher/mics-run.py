#!/usr/bin/env python3
"""mics-run: start N local ranks of a mics program (torchrun-style environment).

usage: mics-run -n N [--nodes M] [--timeout SECONDS] [--no-prefix] [--] prog args...

Ranks [j*N/M, (j+1)*N/M) form emulated node j (MICS_HOST_ID differs per block).
Each rank's output is forwarded line by line with a "[rank] " prefix. The first
rank to fail stops the others (SIGTERM, SIGKILL after 3 s) and its exit code
becomes ours (128+signal for a signal). --timeout expiry exits 124.
"""

import argparse
import glob
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

KILL_GRACE_S = 3.0
POLL_S = 0.02


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    p = Parser(prog="mics-run", add_help=True,
               usage="mics-run -n N [--nodes M] [--timeout SECONDS] [--no-prefix] [--] prog args...")
    p.add_argument("-n", "--nproc", type=int, required=True, help="number of ranks")
    p.add_argument("--nodes", type=int, default=1, help="emulated nodes (N %% M == 0)")
    p.add_argument("--timeout", type=float, default=None, help="kill all ranks after SECONDS")
    p.add_argument("--no-prefix", action="store_true", help="do not prefix output lines")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="program and its arguments")
    a = p.parse_args(argv)
    if a.cmd and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    if not a.cmd:
        raise UsageError("missing program to run")
    if a.nproc < 1:
        raise UsageError("-n must be >= 1")
    if a.nodes < 1 or a.nproc % a.nodes != 0:
        raise UsageError("--nodes must be >= 1 and divide -n (got -n %d --nodes %d)"
                         % (a.nproc, a.nodes))
    if a.timeout is not None and not a.timeout > 0:
        raise UsageError("--timeout must be > 0")
    return p, a


def free_port_pair():
    """A TCP port p on 127.0.0.1 such that p and p+1 are both free now."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port >= 65535:
                continue
            s2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
            finally:
                s2.close()
        finally:
            s.close()
    raise RuntimeError("mics-run: no free pair of TCP ports found")


def rank_env(base, rank, n, nodes, port, tag, secret):
    per_node = n // nodes
    node = rank // per_node
    env = dict(base)
    env.update({
        "RANK": str(rank), "WORLD_SIZE": str(n),
        "LOCAL_RANK": str(rank % per_node), "LOCAL_WORLD_SIZE": str(per_node),
        "GROUP_RANK": str(node), "NODE_RANK": str(node),
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
        "MICS_BOOTSTRAP_SECRET": secret, "MICS_JOB_TAG": tag,
    })
    if nodes > 1:
        env["MICS_HOST_ID"] = "node%d-%s" % (node, tag)
    return env


class Output:
    """Forwards lines of a child pipe to one of our streams, whole lines only."""
    lock = threading.Lock()

    def __init__(self, pipe, dest, prefix):
        self.pipe, self.dest, self.prefix = pipe, dest, prefix
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            for line in iter(self.pipe.readline, b""):
                if not line.endswith(b"\n"):
                    line += b"\n"
                with Output.lock:
                    try:
                        self.dest.write(self.prefix + line)
                        self.dest.flush()
                    except (BrokenPipeError, ValueError, OSError):
                        pass
        finally:
            self.pipe.close()


def signal_all(procs, sig):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass


def stop_all(procs):
    """SIGTERM everyone still running, SIGKILL after the grace period."""
    signal_all(procs, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(POLL_S)
    signal_all(procs, signal.SIGKILL)
    for p in procs:
        p.wait()


def remove_shm(tag):
    for path in glob.glob("/dev/shm/mics-%s*" % glob.escape(tag)):
        try:
            os.unlink(path)
        except OSError:
            pass


def describe(rank, rc):
    if rc < 0:
        sig = -rc
        try:
            name = " " + signal.Signals(sig).name
        except ValueError:
            name = ""
        return 128 + sig, "mics-run: rank %d exited with code %d (signal %d%s)" % (
            rank, 128 + sig, sig, name)
    return rc, "mics-run: rank %d exited with code %d" % (rank, rc)


def main(argv):
    try:
        parser, a = parse_args(argv)
    except UsageError as e:
        sys.stderr.write("usage: mics-run -n N [--nodes M] [--timeout SECONDS] [--no-prefix]"
                         " [--] prog args...\nmics-run: error: %s\n" % e)
        return 2
    tag = secrets.token_hex(6)
    secret = secrets.token_hex(16)
    port = free_port_pair()
    received = []

    def on_signal(signum, _frame):
        received.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    procs, outputs = [], []
    code = 0
    try:
        for r in range(a.nproc):
            env = rank_env(os.environ, r, a.nproc, a.nodes, port, tag, secret)
            try:
                p = subprocess.Popen(a.cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
            except OSError as e:
                sys.stderr.write("mics-run: cannot start %s: %s\n" % (a.cmd[0], e))
                stop_all(procs)
                return 127
            procs.append(p)
            prefix = b"" if a.no_prefix else ("[%d] " % r).encode()
            outputs.append(Output(p.stdout, sys.stdout.buffer, prefix))
            outputs.append(Output(p.stderr, sys.stderr.buffer, prefix))
        deadline = None if a.timeout is None else time.monotonic() + a.timeout
        forwarded, signalled_at = 0, None
        while True:
            if len(received) > forwarded:
                sig = received[forwarded]
                forwarded = len(received)
                signal_all(procs, sig if forwarded == 1 else signal.SIGKILL)
                signalled_at = signalled_at or time.monotonic()
            if signalled_at is not None and time.monotonic() - signalled_at > KILL_GRACE_S:
                signal_all(procs, signal.SIGKILL)
            failed = [(r, p.returncode) for r, p in enumerate(procs)
                      if p.poll() is not None and p.returncode != 0]
            if failed:
                r, rc = failed[0]
                stop_all(procs)
                code, msg = describe(r, rc)
                if received:
                    code = 128 + received[0]
                sys.stderr.write(msg + "\n")
                break
            if all(p.returncode is not None for p in procs):
                code = 128 + received[0] if received else 0
                break
            if deadline is not None and time.monotonic() >= deadline:
                stop_all(procs)
                sys.stderr.write("mics-run: timeout after %g s; killed all ranks\n" % a.timeout)
                code = 124
                break
            time.sleep(POLL_S)
    finally:
        stop_all(procs)
        for o in outputs:
            o.thread.join(timeout=2.0)
        remove_shm(tag)
        for s, h in old.items():
            signal.signal(s, h)
    sys.stderr.flush()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
