#!/usr/bin/env python3
"""mics-plan: size MiCS partition groups and predict step times and weak scaling.

Given a cluster (nodes x GPUs per node, link speeds from a preset or flags) and
a model (parameters, bytes per state, optimizer states), recommends the
partition-group size p -- the smallest power of two whose 1/p share of the
model states fits in --mem-fraction of a GPU's memory -- and predicts, with
the library's own alpha-beta model (perf/model.py = src/coll/cost_model.cc),
the per-micro-step parameter all-gathers and gradient reduce-scatter, the
replication all-reduce at the accumulation boundary, and the weak-scaling
efficiency from 16 to 512 GPUs of MiCS against ZeRO-3-style global sharding.

What each system runs per micro-step (L buckets = --layers collectives each):
  MiCS    2 all-gathers of the fp16/bf16 parameters (forward, backward) and a
          reduce-scatter of the gradients inside the partition group: the flat
          ring if p <= GPUs per node (NVLink only), else the cheaper of ring and
          hierarchical (what MICS_ALGO=auto picks); at the boundary (every
          --accum micro-steps) an all-reduce of the gradient shard across the
          replication group (N/p ranks).
  ZeRO-3  the same 2 all-gathers and reduce-scatter over all N GPUs with a flat
          ring (NCCL's default for these collectives); nothing at the boundary.
Compute per micro-step: --flops-per-token x params x --tokens / (peak x --mfu).
Step time = compute + communication - --overlap x min(compute, communication).

Presets (sources in /work/shared/reference, see docs/PERFORMANCE.md):
  p3dn  8x V100 32 GB; NVLink 6 links x 20 GB/s = 120 GB/s per GPU; 100 Gbps EFA = 12.5 GB/s/node
  p4d   8x A100 40 GB; NVLink3 12 links x 20 GB/s = 240 GB/s; 4x100 Gbps EFA = 50 GB/s/node
  p4de  as p4d with 80 GB GPUs
  p5    8x H100 80 GB; NVLink4 18 links x 20.6 GB/s = 370.8 GB/s; 32x100 Gbps EFA = 400 GB/s/node
  latency: NVLink ring hop 3.4 us; network ring hop 14 us + 75 us reported by aws-ofi-nccl = 89 us

examples:
  perf/mics_plan.py --preset p4d --params 100e9
  perf/mics_plan.py --preset p4de --params 100e9 --tokens 2048 --accum 4 --overlap 0.5
  perf/mics_plan.py --nodes 4 --gpus 8 --nvlink 240 --net 50 --mem 40 --params 20e9
  perf/mics_plan.py --preset p5 --nodes 24 --params 70e9 --accum 4
"""
import argparse
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model  # noqa: E402

# name: (GPUs per node, per-GPU NVLink GB/s, per-node network GB/s, GPU memory GB,
#        peak dense fp16/bf16 TFLOPS, description)
PRESETS = {
    "p3dn": (8, 6 * 20.0, 100 / 8, 32, 125, "p3dn.24xlarge: 8x V100 32 GB, NVLink2, 100 Gbps EFA"),
    "p4d": (8, 12 * 20.0, 400 / 8, 40, 312, "p4d.24xlarge: 8x A100 40 GB, NVSwitch, 4x100 Gbps EFA"),
    "p4de": (8, 12 * 20.0, 400 / 8, 80, 312, "p4de.24xlarge: 8x A100 80 GB, NVSwitch, 4x100 Gbps EFA"),
    "p5": (8, 18 * 20.6, 3200 / 8, 80, 989, "p5.48xlarge: 8x H100 80 GB, NVSwitch, 32x100 Gbps EFA"),
}
ALPHA_NVLINK_US = 3.4       # NCCL ring hop, NVLink, Simple protocol (nccl.md 2.6 / fabric_topo.md 5.3)
ALPHA_NET_US = 14.0 + 75.0  # NCCL ring hop NET Simple + aws-ofi-nccl's reported latency (nccl.md 4.2)
SCALES = (16, 32, 64, 128, 256, 512)


def ring_path_us(m, n, k, nbytes):
    """--ring-latency path: the flat ring's bandwidth term as the library's model,
    but the p - 1 steps pay the latency of the link they cross: n - 1 network
    and p - n NVLink steps (NCCL's accounting, nInterSteps = nNodes - 1 in
    tuning.cc), not p - 1 network ones."""
    p = n * k
    return (n - 1) * m.net.alpha_us + (p - n) * m.shm.alpha_us + \
        (p - 1) * nbytes / (m.net.gbps * 1e3)


def ag_rs_us(m, p, k, nbytes, allow_hier, path_latency=False):
    """One all-gather / reduce-scatter of nbytes per rank over p ranks, k per node."""
    if p <= 1:
        return 0.0
    if p <= k:  # inside one node (k/p groups side by side on NVSwitch)
        return model.predict_ring_us(m, "allgather", 1, p, nbytes)
    n = p // k
    ring = model.predict_ring_us(m, "allgather", n, k, nbytes)
    if path_latency:
        ring = ring_path_us(m, n, k, nbytes)
    if not allow_hier:
        return ring
    return min(ring, model.predict_hier_us(m, "allgather", n, k, nbytes))


def replication_allreduce_us(m, n_gpus, p, k, nbytes):
    """All-reduce of nbytes (the gradient shard) across the N/p replication group.

    p >= k: every member is on its own node and each node hosts k members of k
    different groups whose rings share the NIC: the rail stage of
    predict_hier_us(allreduce), 2(r-1)(alpha_net + k * (S/r) / beta_net).
    p < k: k/p members per node; the hierarchical all-reduce over n_gpus/k
    nodes x k/p ranks, with the NIC shared by the p groups of each node."""
    r = n_gpus // p
    if r <= 1:
        return 0.0
    if p >= k:
        return 2 * (r - 1) * (m.net.alpha_us + k * (nbytes / r) / (m.net.gbps * 1e3))
    nodes, per_node = n_gpus // k, k // p
    shared = m._replace(net=model.Link(m.net.alpha_us, m.net.gbps / p))
    if nodes == 1:
        return model.predict_ring_us(m, "allreduce", 1, per_node, nbytes)
    return min(model.predict_ring_us(shared, "allreduce", nodes, per_node, nbytes),
               model.predict_hier_us(shared, "allreduce", nodes, per_node, nbytes))


def plan(a):
    k = a.gpus
    m = model.Model(model.Link(a.alpha_nvlink, a.nvlink), model.Link(a.alpha_net, a.net))
    bytes_per_param = 2 * a.bytes_per_state + 4 * a.optimizer_states
    states = a.params * bytes_per_param
    budget = a.mem * 1e9 * a.mem_fraction
    p = 1
    while states / p > budget:
        p *= 2
    param_bytes = a.params * a.bytes_per_state  # gathered parameters (and gradients)
    compute_us = a.flops_per_token * a.params * a.tokens / (a.peak * 1e12 * a.mfu) * 1e6

    print(f"# mics-plan: {a.params:.4g} parameters x {bytes_per_param:g} B of model states "
          f"({a.bytes_per_state:g} B params + {a.bytes_per_state:g} B grads + "
          f"{a.optimizer_states:g} x 4 B optimizer) = {states / 1e9:.1f} GB")
    print(f"# cluster: {a.desc}; {k} GPUs/node, NVLink {a.nvlink:g} GB/s/GPU (alpha "
          f"{a.alpha_nvlink:g} us), network {a.net:g} GB/s/node (alpha {a.alpha_net:g} us), "
          f"{a.mem:g} GB/GPU")
    print(f"# partition group: p = {p} GPUs ({max(1, p // k) if p >= k else f'1/{k // p} of a'} "
          f"node{'s' if p > k else ''}): {states / p / 1e9:.1f} GB of model states per GPU = "
          f"{100 * states / p / (a.mem * 1e9):.0f} % of {a.mem:g} GB (limit "
          f"{100 * a.mem_fraction:.0f} %)")
    target = a.nodes * k if a.nodes else None
    scales = sorted(set(SCALES) | ({target} if target else set()))
    if p > max(scales):
        print(f"# the model needs more than {max(scales)} GPUs to fit: nothing to plan")
        return 1
    if target and (target < p or target % p):
        print(f"# warning: --nodes {a.nodes} x {k} = {target} GPUs is not a multiple of p = {p}")
    print(f"# per micro-step: {a.layers} buckets; compute {compute_us / 1e3:.1f} ms "
          f"({a.flops_per_token:g} x params x {a.tokens} tokens at {a.mfu:.0%} of "
          f"{a.peak:g} TFLOPS); boundary every {a.accum} micro-steps; overlap {a.overlap:.0%}")
    print(f"# alpha-beta model of src/coll/cost_model.cc via perf/model.py (MICS_MODEL_SHM="
          f"{model.fmt_link(m.shm)} MICS_MODEL_NET={model.fmt_link(m.net)})" +
          ("; flat-ring latency per hop taken (--ring-latency path)"
           if a.ring_latency == "path" else ""))

    def step(comm_us):
        return compute_us + comm_us - a.overlap * min(compute_us, comm_us)

    rows = []
    for n_gpus in scales:
        if n_gpus < p or n_gpus % k or n_gpus % p:
            continue
        # MiCS
        blk = param_bytes / p / a.layers
        ag = a.layers * ag_rs_us(m, p, k, blk, True, a.ring_latency == "path")
        rs = ag
        ar = replication_allreduce_us(m, n_gpus, p, k, param_bytes / p) / a.accum
        mics_comm = 2 * ag + rs + ar
        # ZeRO-3
        zblk = param_bytes / n_gpus / a.layers
        zag = a.layers * ag_rs_us(m, n_gpus, k, zblk, False, a.ring_latency == "path")
        z_comm = 3 * zag
        rows.append((n_gpus, ag, rs, ar, step(mics_comm), zag, step(z_comm)))
    base_m, base_z = rows[0][4], rows[0][6]
    print(f"\n{'GPUs':>5} | {'MiCS AG':>9} {'RS':>9} {'AR/step':>9} {'step':>9} {'eff':>6} | "
          f"{'ZeRO-3 AG':>9} {'RS':>9} {'step':>9} {'eff':>6}   (ms per micro-step; "
          f"eff vs {rows[0][0]} GPUs)")
    for n_gpus, ag, rs, ar, sm, zag, sz in rows:
        print(f"{n_gpus:>5} | {ag / 1e3:>9.1f} {rs / 1e3:>9.1f} {ar / 1e3:>9.1f} {sm / 1e3:>9.1f} "
              f"{100 * base_m / sm:>5.1f}% | {zag / 1e3:>9.1f} {zag / 1e3:>9.1f} {sz / 1e3:>9.1f} "
              f"{100 * base_z / sz:>5.1f}%" + ("   <- --nodes" if n_gpus == target else ""))
    by = {r[0]: r for r in rows}
    if target in by:
        _, ag, rs, ar, sm, zag, sz = by[target]
        print(f"\n# {a.nodes} nodes x {k} = {target} GPUs: MiCS p = {p}, replication groups of "
              f"{target // p}; per micro-step 2 x {ag / 1e3:.1f} ms all-gather + {rs / 1e3:.1f} ms "
              f"reduce-scatter + {ar * a.accum / 1e3:.1f} ms all-reduce every {a.accum} "
              f"micro-step(s); step {sm / 1e3:.1f} ms vs ZeRO-3 {sz / 1e3:.1f} ms "
              f"({sz / sm:.2f}x)")
    if 128 in by and 512 in by:
        em, ez = by[128][4] / by[512][4], by[128][6] / by[512][6]
        print(f"\n# weak scaling 128 -> 512 GPUs: MiCS {100 * em:.1f} %, ZeRO-3 {100 * ez:.1f} % "
              f"(MiCS paper: 99.4 % and about 72 %)")
    print("# AG = one all-gather of all parameters (there are 2 per micro-step), RS = the "
          "gradient reduce-scatter, AR/step = the boundary all-reduce per micro-step")
    return 0


def main():
    ap = argparse.ArgumentParser(prog="mics-plan", description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="p4d")
    ap.add_argument("--nodes", type=int,
                    help="nodes of the target cluster: its row is marked and summarised "
                         "(the sweep 16..512 GPUs is always printed)")
    ap.add_argument("--gpus", type=int, help="GPUs per node (preset)")
    ap.add_argument("--nvlink", type=float, help="per-GPU NVLink GB/s (preset)")
    ap.add_argument("--net", type=float, help="per-node network GB/s (preset)")
    ap.add_argument("--mem", type=float, help="GPU memory GB (preset)")
    ap.add_argument("--peak", type=float, help="peak fp16/bf16 TFLOPS per GPU (preset)")
    ap.add_argument("--alpha-nvlink", type=float, default=ALPHA_NVLINK_US, help="us per NVLink step")
    ap.add_argument("--alpha-net", type=float, default=ALPHA_NET_US, help="us per network step")
    ap.add_argument("--params", type=float, required=True, help="model parameters, e.g. 100e9")
    ap.add_argument("--bytes-per-state", type=float, default=2,
                    help="bytes of a parameter and of a gradient (default 2: fp16/bf16)")
    ap.add_argument("--optimizer-states", type=float, default=3,
                    help="fp32 values per parameter kept by the optimizer (default 3: master "
                         "weights, Adam m and v)")
    ap.add_argument("--mem-fraction", type=float, default=0.6,
                    help="share of GPU memory for model states (default 0.6; the rest holds "
                         "activations and the gathered layers)")
    ap.add_argument("--layers", type=int, default=96, help="collective buckets per pass (96)")
    ap.add_argument("--tokens", type=int, default=2048, help="tokens per GPU per micro-step")
    ap.add_argument("--flops-per-token", type=float, default=8,
                    help="FLOPs per parameter per token (8: forward, backward, recomputation)")
    ap.add_argument("--mfu", type=float, default=0.5, help="achieved fraction of peak (0.5)")
    ap.add_argument("--accum", type=int, default=1, help="micro-steps per optimizer step (1)")
    ap.add_argument("--overlap", type=float, default=0.0,
                    help="fraction of min(compute, comm) hidden by overlap (default 0)")
    ap.add_argument("--ring-latency", choices=("model", "path"), default="model",
                    help="flat ring across nodes: 'model' charges (p-1) network alphas "
                         "(src/coll/cost_model.cc), 'path' (n-1) network + (p-n) NVLink "
                         "alphas (NCCL's accounting)")
    a = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # mics-plan ... | head
    g, nvl, net, mem, peak, desc = PRESETS[a.preset]
    overridden = [f for f in ("gpus", "nvlink", "net", "mem", "peak") if getattr(a, f)]
    a.desc = desc + (f" (overridden: {', '.join(overridden)})" if overridden else "")
    a.gpus = a.gpus or g
    a.nvlink = a.nvlink or nvl
    a.net = a.net or net
    a.mem = a.mem or mem
    a.peak = a.peak or peak
    return plan(a)


if __name__ == "__main__":
    sys.exit(main())
