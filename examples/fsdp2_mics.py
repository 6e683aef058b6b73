#!/usr/bin/env python3
"""MiCS-style sharded training of a tiny transformer LM with FSDP2 on a 2-D DeviceMesh.

The mesh is (replicate, shard) = (MiCS replication groups, MiCS partition groups): parameters,
gradients and optimizer state are sharded inside a partition group of --shard ranks, which is
replicated world/shard times (FSDP2's HSDP). Gradients use MiCS two-hop sync: every micro-step
reduce-scatters inside the partition group (accumulating the sharded gradient), and only the
accumulation boundary all-reduces across the replication group:
    model.set_requires_all_reduce(boundary)   # set_requires_gradient_sync stays True

  mics-run -n 4 --nodes 2 -- python examples/fsdp2_mics.py --backend mics
  torchrun --nproc-per-node 4 examples/fsdp2_mics.py --backend gloo
  python examples/fsdp2_mics.py --reference --world 4      # one process, no FSDP, same batches

--dump FILE saves (torch.save) {"losses": [...], "params": {name: full tensor}} from rank 0;
the reference mode runs the same global batch per step in one process, for comparison.
"""

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed.device_mesh import init_device_mesh

try:  # torch >= 2.6
    from torch.distributed.fsdp import fully_shard
except ImportError:  # torch 2.4/2.5
    from torch.distributed._composable.fsdp import fully_shard


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then an MLP."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        # No qkv bias: the key bias has an exactly-zero gradient (softmax ignores a per-row
        # shift), and AdamW would turn its rounding noise into full-size updates.
        self.qkv, self.proj = nn.Linear(dim, 3 * dim, bias=False), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=2)
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class TinyLM(nn.Module):
    def __init__(self, vocab, dim, heads, layers, seq):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(seq, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def global_batch(args, step):
    """Tokens [micro_steps, world*batch, seq+1] of one step, the same in every process: each
    sequence counts up from a random start by a random stride (mod vocab), a pattern the model
    can learn in a few steps."""
    g = torch.Generator().manual_seed(args.seed * 100003 + step)
    rows = args.micro_steps * args.world * args.batch
    start = torch.randint(0, args.vocab, (rows, 1), generator=g)
    stride = torch.randint(1, 4, (rows, 1), generator=g)
    tokens = (start + stride * torch.arange(args.seq + 1)) % args.vocab
    return tokens.view(args.micro_steps, args.world * args.batch, args.seq + 1)


def lm_loss(model, tokens):
    logits = model(tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


def build(args, device):
    torch.manual_seed(args.seed)  # the same initial weights in every process and the reference
    return TinyLM(args.vocab, args.dim, args.heads, args.layers, args.seq).to(device)


def make_optimizer(args, params):
    if args.optim == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=0.9)
    # foreach=False: the same per-parameter arithmetic on DTensor shards and on plain tensors.
    return torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, foreach=False)


def train(args, model, step_fn):
    """Runs args.steps optimizer steps; step_fn(step) returns the step's mean loss (a float)."""
    losses = []
    for step in range(args.steps):
        t0 = time.perf_counter()
        loss = step_fn(step)
        losses.append(loss)
        if args.rank == 0:
            print("step %3d  loss %.6f  (%.0f ms)" % (step, loss, 1e3 * (time.perf_counter() - t0)),
                  flush=True)
    return losses


def run_reference(args):
    """One process, no FSDP: each micro-step runs the whole global micro-batch."""
    model = build(args, "cpu")
    opt = make_optimizer(args, model.parameters())

    def step_fn(step):
        batch, total = global_batch(args, step), 0.0
        for m in range(args.micro_steps):
            loss = lm_loss(model, batch[m]) / args.micro_steps
            loss.backward()
            total += loss.item()
        opt.step()
        opt.zero_grad()
        return total

    losses = train(args, model, step_fn)
    return losses, {name: p.detach().clone() for name, p in model.named_parameters()}


def run_fsdp(args):
    if args.backend == "mics":
        import mics.torch  # noqa: F401  registers the "mics" backend with torch.distributed
    device = torch.device("cpu")
    if args.device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local % torch.cuda.device_count())  # ranks may share a GPU
        torch.cuda.set_device(device)
    dist.init_process_group(backend=args.backend)
    args.rank, world = dist.get_rank(), dist.get_world_size()
    if world != args.world:
        raise SystemExit("--world %d but WORLD_SIZE is %d" % (args.world, world))
    if world % args.shard:
        raise SystemExit("--shard %d does not divide the world size %d" % (args.shard, world))
    mesh = init_device_mesh(device.type, (world // args.shard, args.shard),
                            mesh_dim_names=("replicate", "shard"))
    model = build(args, device)
    for block in model.blocks:
        fully_shard(block, mesh=mesh)  # each block is one all-gather / reduce-scatter unit
    fully_shard(model, mesh=mesh)  # the rest: embeddings, final norm, head
    opt = make_optimizer(args, model.parameters())
    lo, hi = args.rank * args.batch, (args.rank + 1) * args.batch

    def step_fn(step):
        batch, local = global_batch(args, step), torch.zeros((), device=device)
        model.set_requires_gradient_sync(True)  # reduce-scatter in the partition group: always
        for m in range(args.micro_steps):
            boundary = m == args.micro_steps - 1
            model.set_requires_all_reduce(boundary)  # across replication groups: boundary only
            loss = lm_loss(model, batch[m, lo:hi].to(device)) / args.micro_steps
            loss.backward()
            local += loss.detach()
        opt.step()
        opt.zero_grad()
        dist.all_reduce(local, op=dist.ReduceOp.SUM)
        return local.item() / world

    losses = train(args, model, step_fn)
    # full_tensor() all-gathers each parameter: a collective, so every rank calls it.
    params = {name: p.full_tensor().detach().cpu() for name, p in model.named_parameters()}
    dist.barrier()
    dist.destroy_process_group()
    return losses, params


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("mics", "gloo", "nccl"), default="mics")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--reference", action="store_true", help="one process, no FSDP")
    p.add_argument("--world", type=int, default=int(os.environ.get("WORLD_SIZE", "4")),
                   help="ranks whose batches the reference reproduces (default $WORLD_SIZE or 4)")
    p.add_argument("--shard", type=int, default=2, help="MiCS partition group size")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--micro-steps", type=int, default=2, help="gradient accumulation micro-steps")
    p.add_argument("--batch", type=int, default=2, help="sequences per rank per micro-step")
    p.add_argument("--seq", type=int, default=16)
    p.add_argument("--vocab", type=int, default=64)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--optim", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--lr", type=float, default=None, help="default: 3e-3 (adamw), 0.3 (sgd)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    p.add_argument("--dump", metavar="FILE", help="rank 0 saves losses and full parameters")
    args = p.parse_args(argv)
    if args.micro_steps < 1 or args.steps < 0 or args.shard < 1:
        p.error("--micro-steps and --shard must be >= 1, --steps >= 0")
    if args.lr is None:
        args.lr = 3e-3 if args.optim == "adamw" else 0.3
    args.rank = 0
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)  # several ranks share the cores
    if args.device == "cpu":
        torch.use_deterministic_algorithms(True)  # (CUDA would also need CUBLAS_WORKSPACE_CONFIG)
    t0 = time.perf_counter()
    losses, params = run_reference(args) if args.reference else run_fsdp(args)
    if args.rank == 0:
        mode = "reference" if args.reference else "%s, mesh (%d replicate x %d shard)" % (
            args.backend, args.world // args.shard, args.shard)
        print("done: %d steps in %.1f s (%s), final loss %.6f" % (
            args.steps, time.perf_counter() - t0, mode, losses[-1] if losses else float("nan")))
        if args.dump:
            torch.save({"losses": losses, "params": params, "args": vars(args)}, args.dump)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
