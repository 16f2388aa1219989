"""Training steps replayed from CUDA graphs: one kernel launch per step instead of hundreds.

The model is tiny, so an eager step on a GPU is bound by kernel launches and Python dispatch;
a captured step replays all of them at once. A graph holds fixed addresses, so it is captured
once per batch shape (the full batch and the epoch's last, partial one), reads its batch and
its step number through static tensors, and needs an optimiser that keeps its step count on the
device (`capturable=True`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

WARMUP_STEPS = 3  # eager steps on a side stream before capture, as PyTorch's CUDA-graph notes advise


class CudaGraphSteps:
    """Replays `step(idx, i)` from one CUDA graph per index shape; capture leaves no trace on the state.

    Warm-up and capture run real steps, so the parameters, buffers and optimiser state are saved
    first and written back in place afterwards (in place: the graphs hold their addresses).
    """

    def __init__(
        self,
        step: Callable[[Tensor, Tensor], Tensor],
        index_shapes: Iterable[Sequence[int]],
        state: Sequence[Tensor],
        optimizer: torch.optim.Optimizer,
        device: torch.device,
    ) -> None:
        saved = [t.detach().clone() for t in state]
        saved_opt = {p: {k: v.clone() for k, v in s.items() if torch.is_tensor(v)} for p, s in optimizer.state.items()}
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, Tensor, Tensor]] = {}
        self._step = torch.zeros((), dtype=torch.long, device=device)
        for shape in dict.fromkeys(tuple(s) for s in index_shapes):
            idx = torch.zeros(shape, dtype=torch.long, device=device)
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    step(idx, self._step)
            torch.cuda.current_stream(device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(graph):
                out = step(idx, self._step)
            self._graphs[shape] = (graph, idx, out)
        with torch.no_grad():
            for tensor, value in zip(state, saved):
                tensor.copy_(value)
            for param, param_state in optimizer.state.items():
                before = saved_opt.get(param, {})
                for key, value in param_state.items():
                    if torch.is_tensor(value):
                        value.copy_(before[key]) if key in before else value.zero_()

    def __call__(self, idx: Tensor, i: Tensor) -> Tensor:
        """One step on the batch `idx` as step `i` of the epoch; the returned row is overwritten by the next call."""
        graph, static_idx, out = self._graphs[tuple(idx.shape)]
        static_idx.copy_(idx)
        self._step.copy_(i)
        graph.replay()
        return out
