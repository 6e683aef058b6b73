#!/usr/bin/env python3
"""Runs examples/fsdp2_mics.py for 20 steps three ways and checks that they agree:
the single-process reference (no FSDP), FSDP2-HSDP on Gloo and FSDP2-HSDP on mics, each rank
set launched as 4 ranks on 2 emulated nodes (mics-run -n 4 --nodes 2).

  A. SGD (momentum), mesh 2 replicate x 2 shard, 2 micro-steps (two-hop sync):
     reference vs gloo vs mics.   SGD updates are proportional to the gradient, so a gradient
     reduced with the wrong scale (SUM for AVG), missing a replica or a micro-step shows.
  B. AdamW (the example's default), mesh 1 x 4 (the partition spans both nodes: hierarchical
     all-gather), 3 micro-steps: reference vs mics.

Tolerances (float32, eps = 1.2e-7; observed differences are 0..2 ulp):
  losses        |a - b| <= 1e-5           (a mean of ~1000 token losses of size ~3, summed in
                                            another order: a few ulp, i.e. < 1e-6)
  parameters    |a - b| <= 1e-5 + 1e-5|b| (weights O(1) after 20 updates of gradients that
                                            differ by a few ulp; a wrong reduction moves them by
                                            >= lr * |grad| ~ 1e-3)
  gloo vs mics  the same, though they are usually bit-identical (same arithmetic in the same
                processes; only the collectives' summation order may differ).

Environment: MICS_RUN (the mics-run launcher), PYTHON (interpreter with torch; default: this
one), MICS_BUILD_DIR (build tree with python/mics/_mics_torch), MICS_TEST_TIMEOUT (s per run).
"""

import os
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLE = os.path.join(ROOT, "examples", "fsdp2_mics.py")
LOSS_ATOL, PARAM_ATOL, PARAM_RTOL = 1e-5, 1e-5, 1e-5
STEPS = 20


def run_example(tmp, name, args, launcher):
    dump = os.path.join(tmp, name + ".pt")
    cmd = launcher + [os.environ.get("PYTHON", sys.executable), EXAMPLE, "--steps", str(STEPS),
                      "--dump", dump] + args
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, "bindings", "python")] + env.get("PYTHONPATH", "").split(os.pathsep))
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep Gloo on loopback
    print("+ " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=float(os.environ.get("MICS_TEST_TIMEOUT", "300")))
    text = out.stdout.decode(errors="replace")
    if out.returncode != 0:
        sys.stdout.write(text)
        raise SystemExit("FAIL: %s exited with %d" % (name, out.returncode))
    print("  %s: %.1f s, %s" % (name, time.monotonic() - t0, text.strip().splitlines()[-1]))
    return torch.load(dump)


def compare(name_a, a, name_b, b):
    """Returns the failures (strings) of comparing two dumps."""
    failures = []
    if len(a["losses"]) != STEPS or len(b["losses"]) != STEPS:
        return ["%s/%s: expected %d losses" % (name_a, name_b, STEPS)]
    loss_diff = max(abs(x - y) for x, y in zip(a["losses"], b["losses"]))
    if loss_diff > LOSS_ATOL:
        failures.append("losses differ by %.3g > %g" % (loss_diff, LOSS_ATOL))
    if a["losses"][-1] >= a["losses"][0] - 0.5:
        failures.append("%s did not learn: loss %.4f -> %.4f" % (name_a, a["losses"][0],
                                                                 a["losses"][-1]))
    if sorted(a["params"]) != sorted(b["params"]):
        failures.append("parameter names differ")
        return failures
    worst, worst_name = 0.0, ""
    for key, pa in a["params"].items():
        pb = b["params"][key]
        if pa.shape != pb.shape:
            failures.append("%s: shape %s vs %s" % (key, tuple(pa.shape), tuple(pb.shape)))
            continue
        excess = ((pa - pb).abs() - (PARAM_ATOL + PARAM_RTOL * pb.abs())).max().item()
        diff = (pa - pb).abs().max().item()
        if diff > worst:
            worst, worst_name = diff, key
        if excess > 0:
            failures.append("%s differs by up to %.3g" % (key, diff))
    print("  %s vs %s: max loss diff %.3g, max parameter diff %.3g (%s)%s" % (
        name_a, name_b, loss_diff, worst, worst_name or "-", "  FAIL" if failures else ""))
    return ["%s vs %s: %s" % (name_a, name_b, f) for f in failures]


def main():
    run = os.environ.get("MICS_RUN")
    if not run:
        raise SystemExit("set MICS_RUN to the mics-run launcher")
    launcher = [run, "-n", "4", "--nodes", "2", "--timeout", "280", "--"]
    t0 = time.monotonic()
    failures, comparisons = [], []

    def check(*pair):
        found = compare(*pair)
        comparisons.append(not found)
        failures.extend(found)

    with tempfile.TemporaryDirectory(prefix="mics-fsdp2-") as tmp:
        a_args = ["--optim", "sgd", "--shard", "2", "--micro-steps", "2", "--world", "4"]
        ref = run_example(tmp, "A-reference", a_args + ["--reference"], [])
        gloo = run_example(tmp, "A-gloo", a_args + ["--backend", "gloo"], launcher)
        mics = run_example(tmp, "A-mics", a_args + ["--backend", "mics"], launcher)
        check("A-reference", ref, "A-gloo", gloo)
        check("A-reference", ref, "A-mics", mics)
        check("A-gloo", gloo, "A-mics", mics)

        b_args = ["--optim", "adamw", "--shard", "4", "--micro-steps", "3", "--world", "4"]
        ref = run_example(tmp, "B-reference", b_args + ["--reference"], [])
        mics = run_example(tmp, "B-mics", b_args + ["--backend", "mics"], launcher)
        check("B-reference", ref, "B-mics", mics)
    for f in failures:
        print("FAIL: " + f)
    print("fsdp2 example: %d passed, %d failed (comparisons, %.0f s)" % (
        comparisons.count(True), comparisons.count(False), time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
