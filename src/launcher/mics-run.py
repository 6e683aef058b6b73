#!/usr/bin/env python3
"""mics-run: start N local ranks of a mics program (torchrun-style environment).

usage: mics-run -n N [--nodes M] [--timeout SECONDS] [--no-prefix]
                [--node-prefix "CMD {node}"] [--node-env VAR=VALUE{node}]...
                [--master-addr ADDR] [--master-port PORT] [--] prog args...

Ranks [j*N/M, (j+1)*N/M) form emulated node j (MICS_HOST_ID differs per block).
Each rank's output is forwarded line by line with a "[rank] " prefix. The first
rank to fail stops the others (SIGTERM, SIGKILL after 3 s) and its exit code
becomes ours (128+signal for a signal). --timeout expiry exits 124.

Running ranks elsewhere (e.g. one network namespace per node, see
tests/cluster/netns_cluster.sh):
  --node-prefix "ip netns exec mics-node{node}"   prepended (split like a shell
      would, {node} replaced by the node index) to each rank's command; the
      prefix must exec the program (signals go to the process it starts).
  --node-env "MICS_NET_IFACE=veth{node}"          per-node variable (repeatable).
  --master-addr ADDR   MASTER_ADDR given to the ranks (default 127.0.0.1); rank 0
      (node 0) hosts the bootstrap root there, at MASTER_PORT + 1.
  --master-port PORT   MASTER_PORT (default: a pair p, p+1 free on 127.0.0.1; with
      --node-prefix the ports cannot be checked from here, so a random p in
      [20000, 60000)).
"""

import argparse
import glob
import os
import random
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

KILL_GRACE_S = 3.0
POLL_S = 0.02


USAGE = ("mics-run -n N [--nodes M] [--timeout SECONDS] [--no-prefix] [--node-prefix CMD]"
         " [--node-env VAR=VALUE]... [--master-addr ADDR] [--master-port PORT] [--] prog args...")
RANDOM_PORTS = (20000, 60000)


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    p = Parser(prog="mics-run", add_help=True, usage=USAGE)
    p.add_argument("-n", "--nproc", type=int, required=True, help="number of ranks")
    p.add_argument("--nodes", type=int, default=1, help="emulated nodes (N %% M == 0)")
    p.add_argument("--timeout", type=float, default=None, help="kill all ranks after SECONDS")
    p.add_argument("--no-prefix", action="store_true", help="do not prefix output lines")
    p.add_argument("--node-prefix", default=None, metavar="CMD",
                   help="command template prepended to each rank's command; {node} is the node index")
    p.add_argument("--node-env", action="append", default=[], metavar="VAR=VALUE",
                   help="per-node environment variable, {node} is the node index (repeatable)")
    p.add_argument("--master-addr", default="127.0.0.1", metavar="ADDR",
                   help="MASTER_ADDR for the ranks (default 127.0.0.1)")
    p.add_argument("--master-port", type=int, default=None, metavar="PORT",
                   help="MASTER_PORT for the ranks (default: picked free, or random with --node-prefix)")
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
    if a.node_prefix is not None:
        try:
            a.node_prefix = shlex.split(a.node_prefix)
        except ValueError as e:
            raise UsageError("--node-prefix: %s" % e)
        if not a.node_prefix:
            raise UsageError("--node-prefix is empty")
    for item in a.node_env:
        name = item.split("=", 1)[0]
        if "=" not in item or not name or not (name[0].isalpha() or name[0] == "_") or \
                not all(c.isalnum() or c == "_" for c in name):
            raise UsageError("--node-env wants VAR=VALUE (got %r)" % item)
    if not a.master_addr or a.master_addr.strip() != a.master_addr:
        raise UsageError("--master-addr is empty or has blanks")
    if a.master_port is not None and not 1 <= a.master_port <= 65534:
        raise UsageError("--master-port must be in [1, 65534] (the root uses MASTER_PORT + 1)")
    return p, a


def node_subst(text, node):
    """{node} -> the node index; nothing else in text is interpreted."""
    return text.replace("{node}", str(node))


def rank_command(cmd, node_prefix, node):
    if not node_prefix:
        return list(cmd)
    return [node_subst(t, node) for t in node_prefix] + list(cmd)


def free_port_pair(addr="127.0.0.1"):
    """A TCP port p on addr such that p and p+1 are both free now."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((addr, 0))
            port = s.getsockname()[1]
            if port >= 65535:
                continue
            s2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s2.bind((addr, port + 1))
                return port
            except OSError:
                continue
            finally:
                s2.close()
        finally:
            s.close()
    raise RuntimeError("mics-run: no free pair of TCP ports found")


def choose_port(a):
    """MASTER_PORT: given, or a pair free here, or (ranks elsewhere) a random one."""
    if a.master_port is not None:
        return a.master_port
    if a.node_prefix is None:
        try:
            return free_port_pair(a.master_addr)
        except OSError:
            pass  # not an address of this host (or not IPv4): cannot check it from here
    # A fresh namespace has nothing listening, so a random port rarely collides.
    return random.SystemRandom().randrange(RANDOM_PORTS[0], RANDOM_PORTS[1])


def rank_env(base, rank, n, nodes, port, tag, secret, addr="127.0.0.1", node_env=()):
    per_node = n // nodes
    node = rank // per_node
    env = dict(base)
    env.update({
        "RANK": str(rank), "WORLD_SIZE": str(n),
        "LOCAL_RANK": str(rank % per_node), "LOCAL_WORLD_SIZE": str(per_node),
        "GROUP_RANK": str(node), "NODE_RANK": str(node),
        "MASTER_ADDR": addr, "MASTER_PORT": str(port),
        "MICS_BOOTSTRAP_SECRET": secret, "MICS_JOB_TAG": tag,
    })
    # Debian's libfabric loads libinfinipath, whose SIGSEGV handler turns any
    # crash into exit(1) without a core (docs/RELIABILITY.md): keep crashes visible.
    env.setdefault("IPATH_NO_BACKTRACE", "1")
    if nodes > 1:
        env["MICS_HOST_ID"] = "node%d-%s" % (node, tag)
    for item in node_env:
        name, value = item.split("=", 1)
        env[name] = node_subst(value, node)
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
        sys.stderr.write("usage: %s\nmics-run: error: %s\n" % (USAGE, e))
        return 2
    tag = secrets.token_hex(6)
    secret = secrets.token_hex(16)
    port = choose_port(a)
    per_node = a.nproc // a.nodes
    received = []

    def on_signal(signum, _frame):
        received.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    procs, outputs = [], []
    code = 0
    try:
        for r in range(a.nproc):
            env = rank_env(os.environ, r, a.nproc, a.nodes, port, tag, secret,
                           a.master_addr, a.node_env)
            cmd = rank_command(a.cmd, a.node_prefix, r // per_node)
            try:
                p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
            except OSError as e:
                sys.stderr.write("mics-run: cannot start %s: %s\n" % (cmd[0], e))
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
