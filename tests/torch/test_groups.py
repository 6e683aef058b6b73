"""Subgroups and a 2-D DeviceMesh on the mics backend, on an emulated 2-node cluster
(MICS_HOST_ID: ranks 0,1 on node 0, ranks 2,3 on node 1), against Gloo and the exact result.

usage: test_groups.py --world 4
"""

import harness
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh

ag_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
rs_single = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


def run_group(check, seed, ranks, groups, label):
    """The main collectives on a group whose members are the global `ranks`."""
    me = ranks.index(dist.get_rank())
    n = len(ranks)
    for dtype in (torch.float32, torch.bfloat16, torch.int64):
        for count in (0, 5, 1001):
            for op_name in ("SUM", "AVG", "MAX", "PRODUCT"):
                op = harness.OPS[op_name]
                low, high = harness.value_range(op_name, n)
                case = "%s/%s/%d/%s" % (label, dtype, count, op_name)
                xs = [harness.case_input(seed, case, r, count * n, dtype, low, high)
                      for r in ranks]
                full = harness.reduce_exact(xs, op_name)
                for name, group in groups:
                    if name == "gloo" and op_name == "AVG":
                        continue  # Gloo has no AVG
                    t = xs[me].clone()
                    dist.all_reduce(t, op, group=group)
                    check.equal(t, full, "%s allreduce (%s)" % (name, case))
                    out = torch.empty(count, dtype=dtype, device=harness.DEVICE)
                    rs_single(out, xs[me], op, group=group)
                    check.equal(out, full[me * count:(me + 1) * count],
                                "%s reduce_scatter_tensor (%s)" % (name, case))
            case = "%s/%s/%d/gather" % (label, dtype, count)
            xs = [harness.case_input(seed, case, r, count, dtype) for r in ranks]
            for name, group in groups:
                out = torch.empty(count * n, dtype=dtype, device=harness.DEVICE)
                ag_single(out, xs[me], group=group)
                check.equal(out, torch.cat(xs), "%s all_gather_into_tensor (%s)" % (name, case))
                root = n - 1
                t = xs[me].clone()
                dist.broadcast(t, src=ranks[root], group=group)
                check.equal(t, xs[root], "%s broadcast from global rank %d (%s)"
                            % (name, ranks[root], case))
                dist.barrier(group=group)


def mics_topology(group):
    return group._get_backend(torch.device("cpu")).topology


def test_subgroups(check, rank, seed):
    for ranks, nnodes in (([0, 2], 2), ([1, 2, 3], 2), ([0, 1], 1)):
        # new_group is collective over the whole world, members or not.
        mics_group = dist.new_group(ranks, backend="mics")
        gloo_group = dist.new_group(ranks, backend="gloo")
        if rank not in ranks:
            continue
        topology = mics_topology(mics_group)
        if topology[1] != nnodes:
            raise AssertionError("rank %d: group %s has topology %s, expected %d nodes"
                                 % (rank, ranks, topology, nnodes))
        run_group(check, seed, ranks, [("mics", mics_group), ("gloo", gloo_group)],
                  "group%s" % ranks)


def test_device_mesh(check, rank, seed):
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("replicate", "shard"))
    for dim in ("replicate", "shard"):
        group = mesh.get_group(dim)
        ranks = dist.get_process_group_ranks(group)
        run_group(check, seed, ranks, [("mics", group)], "mesh-%s%s" % (dim, ranks))
    # The MiCS pattern on the mesh: gather the parameter shard inside the partition group
    # (shard dim), reduce-scatter gradients there, all-reduce the shard across replicas.
    shard, replicate = mesh.get_group("shard"), mesh.get_group("replicate")
    shard_ranks = dist.get_process_group_ranks(shard)
    grads = [harness.case_input(seed, "mesh-grad", r, 8, torch.float32) for r in range(4)]
    out = torch.empty(4, dtype=torch.float32)
    rs_single(out, grads[rank], dist.ReduceOp.SUM, group=shard)
    dist.all_reduce(out, dist.ReduceOp.SUM, group=replicate)
    me = shard_ranks.index(rank)
    want = harness.reduce_exact(grads, "SUM")[me * 4:(me + 1) * 4]
    check.equal(out, want, "mesh two-hop gradient sync")


def main(rank, world, seed, store_file):
    assert world == 4, "this scenario needs 4 ranks"
    harness.init_world(rank, world, store_file, "mics")
    if mics_topology(dist.group.WORLD)[1] != 2:
        raise AssertionError("MICS_HOST_ID did not make two nodes: %s"
                             % mics_topology(dist.group.WORLD))
    check = harness.Checker(rank, seed)
    test_subgroups(check, rank, seed)
    test_device_mesh(check, rank, seed)
    if rank == 0:
        print("%d exact comparisons on rank 0" % check.count, flush=True)


def node_of(rank):
    return "torch-test-node%d" % (rank // 2)


if __name__ == "__main__":
    args = harness.parse_args()
    harness.run(main, args.world, host_id=node_of)
