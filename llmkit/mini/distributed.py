"""Multi-process training under `torchrun`: the few collective operations `train` needs.

`torchrun` (or `python -m torch.distributed.run`) starts one process per rank and sets
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. `setup()` reads them and
joins the process group: gloo on CPU, nccl with one CUDA device per local rank. Without
those variables (or with WORLD_SIZE=1) everything here is a no-op, so a single-process
run does no collective calls at all.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from llmkit.mini.data import TrainData

__all__ = ["Dist", "setup", "rank_batch"]


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # True when setup() created the process group (and so tears it down)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def backend(self) -> str:
        return "nccl" if self.device.type == "cuda" else "gloo"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64, so token and byte counts stay exact)."""
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def from_main(self, value: float) -> float:
        """Rank 0's value on every rank (e.g. elapsed time, so all ranks use one LR and stop together)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(t, src=0)
        return t.item()

    def broadcast_text(self, text: str | None) -> str:
        """Rank 0's string on every rank (sent as UTF-8 bytes: no pickle involved)."""
        if not self.enabled:
            assert text is not None
            return text
        data = (text or "").encode("utf-8") if self.is_main else b""
        size = torch.tensor([len(data)], dtype=torch.long, device=self.device)
        dist.broadcast(size, src=0)
        buf = torch.zeros(int(size.item()), dtype=torch.uint8, device=self.device)
        if self.is_main:
            buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        dist.broadcast(buf, src=0)
        return bytes(buf.cpu().tolist()).decode("utf-8")

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def setup() -> Dist:
    """Join the torchrun process group if this process is one of several ranks."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or not dist.is_available():
        return Dist()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = torch.device("cpu")
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    info = Dist(rank=rank, world_size=world_size, local_rank=local_rank, device=device)
    if not dist.is_initialized():
        dist.init_process_group(backend=info.backend, rank=rank, world_size=world_size)
        info.owns_group = True
    return info


def rank_batch(data: TrainData, step: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Micro-batch number `index` of `step` (rank r takes indices r*grad_accum ..).

    `TrainData.batch` keys its windows on (seed, step, micro) with micro < 64; the first
    64 indices use it as is, so rank 0 of any run and a single-process run draw the same
    windows. Further indices (more than 64 ranks x micro-steps) get their own seed space.
    """
    if index < 64:
        return data.batch(step, index)
    stream = data.stream_for_step(step)
    t = min(data.block_size, len(stream) - 1)
    key = f"llmkit-mini:{data.seed}:{step}:{index}".encode()
    g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(key).digest()[:7], "big"))
    starts = torch.randint(0, len(stream) - t, (data.batch_size,), generator=g)
    windows = stream[starts.unsqueeze(1) + torch.arange(t + 1)].long()
    return windows[:, :-1], windows[:, 1:]
