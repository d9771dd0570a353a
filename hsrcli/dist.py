"""torchrun plumbing shared by training (DDP) and inference: the process group from the environment,
the rank-0 guard, and work shared out in rounds with one failure stopping every rank."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from hsrcli.errors import PeerFailed

T = TypeVar("T")

#: Seconds a rank other than 0 waits, after a failure every rank meets alike before the process group
#: exists, for rank 0 to report it: torchrun stops every rank once one exits, so exiting at once could
#: stop rank 0 before its message is out.
PEER_REPORT_WAIT = 30.0


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def defer_to_main(wait: float = PEER_REPORT_WAIT) -> None:
    """Under torchrun, before the process group exists, on a rank other than 0 that met a failure every
    rank meets alike (bad input): leave the report to rank 0 — wait until torchrun stops this process
    when rank 0 exits (at most ``wait`` s), then raise :class:`PeerFailed`."""
    time.sleep(wait)
    raise PeerFailed


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``...); no-op otherwise.

    Uses NCCL on CUDA and gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_mean(value: float, info: DistInfo, device: torch.device) -> float:
    """Mean of a float over all ranks."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / info.world_size


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def any_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Whether ``flag`` is true on any rank (a collective: every rank must call it)."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather(obj: T, info: DistInfo) -> list[T]:
    """``obj`` of every rank, in rank order (a collective)."""
    if not info.enabled:
        return [obj]
    out: list = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def map_rounds(n: int, fn: Callable[[int], T], info: DistInfo, device: torch.device,
               to_main: bool = False) -> Iterator[list[tuple[int, T]]]:
    """Items ``0..n-1`` shared over the ranks, one per rank per round (item ``round·world + rank``).

    Yields after each round the ``(item, fn(item))`` pairs of all ranks in item order: on every
    rank, or with ``to_main`` on rank 0 alone (the others get ``[]``: results bound for one writer).
    When ``fn`` raises on any rank, every rank stops after that round: the failing rank re-raises
    its exception (its message is the one the user sees), the others raise :class:`PeerFailed`.
    Items of the same round on other ranks finish first. Without torchrun: ``fn`` on every item.
    """
    for start in range(0, n, info.world_size):
        item = start + info.rank
        result, error = None, None
        if item < n:
            try:
                result = fn(item)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after telling the other ranks
                error = exc
        if any_true(error is not None, info, device):
            if error is not None:
                raise error
            raise PeerFailed
        if not info.enabled:
            yield [(item, result)]
            continue
        if to_main:
            pairs: list | None = [None] * info.world_size if info.is_main else None
            dist.gather_object((item, result), pairs, dst=0)
        else:
            pairs = gather((item, result), info)
        yield sorted(((i, r) for i, r in (pairs or []) if i < n), key=lambda pair: pair[0])
