"""Every collective of the mics backend, for every reduce op and dtype, against Gloo running the
same call in the same processes and against the exact result each rank computes itself.

usage: test_collectives.py --world N     (default group "mics", a Gloo group over the same ranks)
"""

import harness
import torch
import torch.distributed as dist

GLOO_GAPS = set()  # (method, dtype, op) Gloo refused: checked against the exact result only


def call_both(check, groups, case, method, dtype, op_name, run, want):
    """run(group) -> list of result tensors; compares them to `want` for mics and Gloo."""
    for name, group in groups:
        try:
            got = run(group)
        except RuntimeError:
            if name == "gloo" and op_name not in ("AVG", "PREMUL"):
                GLOO_GAPS.add((method, str(dtype), op_name))
                continue
            if name == "gloo":
                continue  # Gloo has no AVG / PREMUL_SUM: mics is checked against `want` only
            raise
        for index, (g, w) in enumerate(zip(got, want)):
            check.equal(g, w, "%s %s[%d] (%s)" % (name, method, index, case))


def reduce_ops(dtype):
    """(name, torch op, premul factor for the exact result) for dtype."""
    ops = [(name, op, None) for name, op in harness.OPS.items()]
    if dtype in harness.FLOAT_DTYPES:
        ops.append(("PREMUL", dist._make_nccl_premul_sum(0.5), 0.5))
        ops.append(("PREMUL", dist._make_nccl_premul_sum(torch.tensor(2.0)), 2.0))
    return ops


def test_reductions(check, groups, rank, world, seed, dtype, count):
    rs_single = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    for op_name, op, premul in reduce_ops(dtype):
        low, high = harness.value_range(op_name, world)

        def inputs(case, numel):
            return [harness.case_input(seed, case, r, numel, dtype, low, high)
                    for r in range(world)]

        # allreduce (in place)
        case = "allreduce/%s/%d/%s/%s" % (dtype, count, op_name, premul)
        xs = inputs(case, count)
        want = harness.reduce_exact(xs, op_name, premul)

        def allreduce(group, x=xs[rank]):
            t = x.clone()
            dist.all_reduce(t, op, group=group)
            return [t]
        call_both(check, groups, case, "allreduce", dtype, op_name, allreduce, [want])

        # allreduce_coalesced: two tensors of different sizes in one call
        case2 = "allreduce_coalesced/%s/%d/%s/%s" % (dtype, count, op_name, premul)
        ys = inputs(case2, count + 3)
        want2 = harness.reduce_exact(ys, op_name, premul)

        def allreduce_coalesced(group):
            a, b = xs[rank].clone(), ys[rank].clone()
            with dist._coalescing_manager(group=group):
                dist.all_reduce(a, op, group=group)
                dist.all_reduce(b, op, group=group)
            return [a, b]
        call_both(check, groups, case2, "allreduce_coalesced", dtype, op_name,
                  allreduce_coalesced, [want, want2])

        # reduce_scatter_tensor (_reduce_scatter_base) and its coalesced form
        case = "reduce_scatter_tensor/%s/%d/%s/%s" % (dtype, count, op_name, premul)
        big = inputs(case, count * world)
        full = harness.reduce_exact(big, op_name, premul)
        want = full[rank * count:(rank + 1) * count]

        def reduce_scatter_tensor(group):
            out = torch.empty(count, dtype=dtype, device=harness.DEVICE)
            source = big[rank].clone()
            rs_single(out, source, op, group=group)
            check.equal(source, big[rank], "reduce_scatter_tensor left its input alone")
            return [out]
        call_both(check, groups, case, "reduce_scatter_tensor", dtype, op_name,
                  reduce_scatter_tensor, [want])

        case2 = "reduce_scatter_coalesced/%s/%d/%s/%s" % (dtype, count, op_name, premul)
        big2 = inputs(case2, (count + 2) * world)
        want2 = harness.reduce_exact(big2, op_name, premul).view(world, count + 2)[rank]

        def reduce_scatter_coalesced(group):
            out1 = torch.empty(count, dtype=dtype, device=harness.DEVICE)
            out2 = torch.empty(count + 2, dtype=dtype, device=harness.DEVICE)
            with dist._coalescing_manager(group=group):
                rs_single(out1, big[rank], op, group=group)
                rs_single(out2, big2[rank], op, group=group)
            return [out1, out2]
        call_both(check, groups, case2, "reduce_scatter_tensor_coalesced", dtype, op_name,
                  reduce_scatter_coalesced, [want, want2])

        # reduce_scatter with a list of per-rank inputs (2-D shape)
        case = "reduce_scatter/%s/%d/%s/%s" % (dtype, count, op_name, premul)
        pieces = inputs(case, count * 2 * world)
        full = harness.reduce_exact(pieces, op_name, premul).view(world, 2, count)

        def reduce_scatter_list(group):
            out = torch.empty(2, count, dtype=dtype, device=harness.DEVICE)
            dist.reduce_scatter(out, list(pieces[rank].view(world, 2, count).unbind(0)), op,
                                group=group)
            return [out]
        call_both(check, groups, case, "reduce_scatter", dtype, op_name, reduce_scatter_list,
                  [full[rank]])


def test_gathers(check, groups, rank, world, seed, dtype, count):
    ag_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    case = "allgather/%s/%d" % (dtype, count)
    xs = [harness.case_input(seed, case, r, count, dtype) for r in range(world)]
    ys = [harness.case_input(seed, case + "/b", r, count + 5, dtype) for r in range(world)]
    want, want_y = torch.cat(xs), torch.cat(ys)

    def all_gather_into_tensor(group):
        out = torch.empty(count * world, dtype=dtype, device=harness.DEVICE)
        ag_single(out, xs[rank], group=group)
        return [out]
    call_both(check, groups, case, "_allgather_base", dtype, "-", all_gather_into_tensor, [want])

    def all_gather_in_place(group):  # FSDP's form: the input is this rank's slot of the output
        out = torch.zeros(count * world, dtype=dtype, device=harness.DEVICE)
        out[rank * count:(rank + 1) * count] = xs[rank]
        ag_single(out, out[rank * count:(rank + 1) * count], group=group)
        return [out]
    call_both(check, groups, case, "_allgather_base in place", dtype, "-", all_gather_in_place,
              [want])

    def all_gather_list(group):
        outs = [torch.empty(count, dtype=dtype, device=harness.DEVICE) for _ in range(world)]
        dist.all_gather(outs, xs[rank], group=group)
        return outs
    call_both(check, groups, case, "allgather", dtype, "-", all_gather_list, xs)

    def all_gather_coalesced(group):
        out1 = torch.empty(count * world, dtype=dtype, device=harness.DEVICE)
        out2 = torch.empty((count + 5) * world, dtype=dtype, device=harness.DEVICE)
        with dist._coalescing_manager(group=group):
            ag_single(out1, xs[rank], group=group)
            ag_single(out2, ys[rank], group=group)
        return [out1, out2]
    call_both(check, groups, case, "allgather_into_tensor_coalesced", dtype, "-",
              all_gather_coalesced, [want, want_y])

    for root in range(world):
        def broadcast(group, root=root):
            t = xs[rank].clone()
            dist.broadcast(t, src=root, group=group)  # both groups span the world
            return [t]
        call_both(check, groups, case + "/root%d" % root, "broadcast", dtype, "-", broadcast,
                  [xs[root]])


def main(rank, world, seed, store_file):
    harness.init_world(rank, world, store_file, "mics")
    gloo = dist.new_group(backend="gloo")
    groups = [("mics", None), ("gloo", gloo)]
    check = harness.Checker(rank, seed)
    for dtype in harness.DTYPES:
        for count in harness.COUNTS:
            test_reductions(check, groups, rank, world, seed, dtype, count)
            test_gathers(check, groups, rank, world, seed, dtype, count)
            dist.barrier()
    work = dist.barrier(async_op=True)
    work.wait()
    check.count += 1
    if rank == 0:
        print("%d exact comparisons per rank; Gloo refused (checked exactly only): %s"
              % (check.count, sorted(GLOO_GAPS) or "none besides AVG and PREMUL_SUM"),
              flush=True)


if __name__ == "__main__":
    args = harness.parse_args()
    harness.run(main, args.world)
