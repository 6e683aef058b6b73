#!/usr/bin/env python3
"""Self-test of the mics-run launcher (unittest, standard library only).

Run: python3 tests/test_launcher.py [-v]
MICS_RUN=/path/to/mics-run selects the launcher (default: src/launcher/mics-run.py).
"""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.environ.get("MICS_RUN", os.path.join(HERE, "..", "src", "launcher", "mics-run.py"))
PY = sys.executable

PRINT_ENV = ("import os; ks = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'GROUP_RANK',"
             " 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'MICS_HOST_ID', 'MICS_BOOTSTRAP_SECRET',"
             " 'MICS_JOB_TAG', 'MICS_TEST_KEEP']; "
             "print(' '.join(k + '=' + os.environ.get(k, '-') for k in ks))")


def launch(args, timeout=20, env=None):
    t0 = time.monotonic()
    p = subprocess.run([PY, LAUNCHER] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode(), time.monotonic() - t0


def parse_env_lines(out):
    ranks = {}
    for line in out.splitlines():
        m = re.match(r"^\[(\d+)\] (.*)$", line)
        assert m, "unprefixed line: %r" % line
        kv = dict(item.split("=", 1) for item in m.group(2).split())
        ranks[int(m.group(1))] = kv
    return ranks


class LauncherTest(unittest.TestCase):
    def test_env_single_node(self):
        env = dict(os.environ, MICS_TEST_KEEP="kept")
        env.pop("MICS_HOST_ID", None)
        rc, out, err, _ = launch(["-n", "4", "--", PY, "-c", PRINT_ENV], env=env)
        self.assertEqual(rc, 0, err)
        ranks = parse_env_lines(out)
        self.assertEqual(sorted(ranks), [0, 1, 2, 3])
        ports, secrets, tags = set(), set(), set()
        for r, kv in ranks.items():
            self.assertEqual(kv["RANK"], str(r))
            self.assertEqual(kv["WORLD_SIZE"], "4")
            self.assertEqual(kv["LOCAL_RANK"], str(r))
            self.assertEqual(kv["LOCAL_WORLD_SIZE"], "4")
            self.assertEqual(kv["GROUP_RANK"], "0")
            self.assertEqual(kv["NODE_RANK"], "0")
            self.assertEqual(kv["MASTER_ADDR"], "127.0.0.1")
            self.assertEqual(kv["MICS_HOST_ID"], "-")  # not set for one node
            self.assertEqual(kv["MICS_TEST_KEEP"], "kept")  # inherited
            self.assertRegex(kv["MICS_BOOTSTRAP_SECRET"], r"^[0-9a-f]{16,}$")
            self.assertTrue(kv["MICS_JOB_TAG"])
            port = int(kv["MASTER_PORT"])
            self.assertTrue(0 < port < 65535)
            ports.add(port)
            secrets.add(kv["MICS_BOOTSTRAP_SECRET"])
            tags.add(kv["MICS_JOB_TAG"])
        self.assertEqual(len(ports), 1)
        self.assertEqual(len(secrets), 1)
        self.assertEqual(len(tags), 1)
        # A second launch draws a new secret and tag.
        rc, out2, err, _ = launch(["-n", "1", PY, "-c", PRINT_ENV], env=env)
        self.assertEqual(rc, 0, err)
        kv2 = parse_env_lines(out2)[0]
        self.assertNotIn(kv2["MICS_BOOTSTRAP_SECRET"], secrets)
        self.assertNotIn(kv2["MICS_JOB_TAG"], tags)

    def test_nodes_grouping(self):
        rc, out, err, _ = launch(["-n", "6", "--nodes", "3", PY, "-c", PRINT_ENV])
        self.assertEqual(rc, 0, err)
        ranks = parse_env_lines(out)
        self.assertEqual(sorted(ranks), list(range(6)))
        tag = ranks[0]["MICS_JOB_TAG"]
        for r, kv in ranks.items():
            self.assertEqual(kv["NODE_RANK"], str(r // 2))
            self.assertEqual(kv["GROUP_RANK"], str(r // 2))
            self.assertEqual(kv["LOCAL_RANK"], str(r % 2))
            self.assertEqual(kv["LOCAL_WORLD_SIZE"], "2")
            self.assertEqual(kv["MICS_HOST_ID"], "node%d-%s" % (r // 2, tag))
        self.assertEqual(len({kv["MICS_HOST_ID"] for kv in ranks.values()}), 3)

    def test_prefix_and_streams(self):
        prog = ("import os, sys; r = os.environ['RANK']; "
                "sys.stdout.write('out ' + r + '\\npartial'); sys.stdout.flush(); "
                "sys.stderr.write('err ' + r + '\\n')")
        rc, out, err, _ = launch(["-n", "2", PY, "-c", prog])
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(out.splitlines()),
                         ["[0] out 0", "[0] partial", "[1] out 1", "[1] partial"])
        self.assertEqual(sorted(err.splitlines()), ["[0] err 0", "[1] err 1"])
        rc, out, err, _ = launch(["-n", "2", "--no-prefix", PY, "-c", prog])
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(out.splitlines()), ["out 0", "out 1", "partial", "partial"])

    def test_fail_fast(self):
        prog = ("import os, sys, time; r = int(os.environ['RANK']); "
                "time.sleep(0.2); sys.exit(3) if r == 2 else time.sleep(60)")
        rc, _, err, dt = launch(["-n", "4", PY, "-c", prog])
        self.assertEqual(rc, 3)
        self.assertLess(dt, 8.0)
        self.assertIn("mics-run: rank 2 exited with code 3", err)

    def test_fail_fast_ignores_sigterm(self):
        # Ranks that ignore SIGTERM are killed after the grace period.
        prog = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "r = int(os.environ['RANK']); time.sleep(0.2); "
                "sys.exit(5) if r == 0 else time.sleep(60)")
        rc, _, err, dt = launch(["-n", "2", PY, "-c", prog])
        self.assertEqual(rc, 5)
        self.assertLess(dt, 10.0)

    def test_signal_death(self):
        prog = ("import os, signal, time; "
                "os.kill(os.getpid(), signal.SIGKILL) if os.environ['RANK'] == '1' "
                "else time.sleep(60)")
        rc, _, err, dt = launch(["-n", "3", PY, "-c", prog])
        self.assertEqual(rc, 128 + signal.SIGKILL)
        self.assertLess(dt, 8.0)
        self.assertRegex(err, r"mics-run: rank 1 exited with code 137 \(signal 9")

    def test_timeout(self):
        rc, _, err, dt = launch(["-n", "2", "--timeout", "0.5", PY, "-c",
                                 "import time; time.sleep(60)"])
        self.assertEqual(rc, 124)
        self.assertLess(dt, 8.0)

    def test_forward_sigterm(self):
        p = subprocess.Popen([PY, LAUNCHER, "-n", "2", PY, "-c", "import time; time.sleep(60)"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)

    def test_shm_cleanup(self):
        if not os.path.isdir("/dev/shm"):
            self.skipTest("no /dev/shm")
        prog = ("import os; open('/dev/shm/mics-' + os.environ['MICS_JOB_TAG'] + '-x' + "
                "os.environ['RANK'], 'w').close(); print(os.environ['MICS_JOB_TAG'])")
        rc, out, err, _ = launch(["-n", "2", "--no-prefix", PY, "-c", prog])
        self.assertEqual(rc, 0, err)
        tag = out.split()[0]
        self.assertFalse([f for f in os.listdir("/dev/shm") if f.startswith("mics-" + tag)])

    def test_exit_zero(self):
        rc, _, err, _ = launch(["-n", "3", "true"])
        self.assertEqual(rc, 0, err)

    def test_node_prefix_and_env(self):
        # --node-prefix is split like a shell command, {node} replaced per token; the
        # prefix execs the program, so the rank sees what the prefix set.
        prog = ("import os; print(' '.join(k + '=' + os.environ.get(k, '-') for k in "
                "['RANK', 'NODE_RANK', 'PFX', 'PFX2', 'IFACE', 'LIT', 'MASTER_ADDR', 'MASTER_PORT']))")
        rc, out, err, _ = launch(["-n", "4", "--nodes", "2",
                                  "--node-prefix", "env PFX=n{node} 'PFX2=a b{node}'",
                                  "--node-env", "IFACE=veth{node}", "--node-env", "LIT={x}{node}{}",
                                  "--", PY, "-c", prog])
        self.assertEqual(rc, 0, err)
        ranks = {}
        for line in out.splitlines():
            r, rest = line.split("] ", 1)
            ranks[int(r[1:])] = rest
        self.assertEqual(sorted(ranks), [0, 1, 2, 3])
        ports = set()
        for r, line in ranks.items():
            node = r // 2
            self.assertIn("PFX=n%d PFX2=a b%d IFACE=veth%d LIT={x}%d{} " % (node, node, node, node),
                          line)
            self.assertIn("NODE_RANK=%d " % node, line)
            self.assertIn("MASTER_ADDR=127.0.0.1 ", line)
            port = int(line.rsplit("MASTER_PORT=", 1)[1])
            # Ranks run elsewhere: the port is drawn at random in [20000, 60000).
            self.assertTrue(20000 <= port < 60000, port)
            ports.add(port)
        self.assertEqual(len(ports), 1)

    def test_node_env_overrides_inherited(self):
        env = dict(os.environ, IFACE="outer")
        rc, out, err, _ = launch(["-n", "2", "--no-prefix", "--node-env", "IFACE=v{node}", PY, "-c",
                                  "import os; print(os.environ['RANK'], os.environ['IFACE'])"],
                                 env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(out.splitlines()), ["0 v0", "1 v0"])  # one node: node 0

    def test_master_addr_and_port(self):
        prog = "import os; print(os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'])"
        rc, out, err, _ = launch(["-n", "2", "--no-prefix", "--master-addr", "198.18.0.1",
                                  "--master-port", "23456", PY, "-c", prog])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines(), ["198.18.0.1 23456"] * 2)
        # An address that is not ours: the port cannot be checked here, a random one is used.
        rc, out, err, _ = launch(["-n", "1", "--no-prefix", "--master-addr", "198.18.0.1",
                                  PY, "-c", prog])
        self.assertEqual(rc, 0, err)
        addr, port = out.split()
        self.assertEqual(addr, "198.18.0.1")
        self.assertTrue(0 < int(port) < 65535)

    def test_node_prefix_fail_fast(self):
        # A failing prefix (or a failing rank behind it) still stops the job.
        rc, _, err, dt = launch(["-n", "2", "--nodes", "2", "--node-prefix", "sh -c 'exit {node}' x",
                                 "--", PY, "-c", "import time; time.sleep(60)"])
        self.assertEqual(rc, 1)
        self.assertLess(dt, 8.0)
        self.assertIn("mics-run: rank 1 exited with code 1", err)

    def test_node_prefix_signal_forwarding(self):
        p = subprocess.Popen([PY, LAUNCHER, "-n", "2", "--nodes", "2", "--node-prefix", "env N={node}",
                              PY, "-c", "import time; time.sleep(60)"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)

    def test_bad_args(self):
        for args in (["true"], ["-n", "0", "true"], ["-n", "x", "true"], ["-n", "2"],
                     ["-n", "3", "--nodes", "2", "true"], ["-n", "2", "--nodes", "0", "true"],
                     ["-n", "2", "--timeout", "-1", "true"], ["-n", "2", "--bogus", "true"],
                     ["-n", "2", "--node-env", "NOEQUALS", "true"],
                     ["-n", "2", "--node-env", "=v", "true"],
                     ["-n", "2", "--node-env", "1X=v", "true"],
                     ["-n", "2", "--node-prefix", "", "true"],
                     ["-n", "2", "--node-prefix", "env 'unterminated", "true"],
                     ["-n", "2", "--master-port", "0", "true"],
                     ["-n", "2", "--master-port", "65535", "true"],
                     ["-n", "2", "--master-addr", "", "true"]):
            rc, out, err, _ = launch(args)
            self.assertEqual(rc, 2, args)
            self.assertIn("usage", err.lower(), args)


if __name__ == "__main__":
    unittest.main()
