"""An epoch of the written-out step in chunks: eager on a CPU, replayed CUDA graphs on a GPU.

On a GPU the book's model is bound by kernel launches, not arithmetic: an epoch is ~2,000 small
kernels in a strict chain (its 188 MB of reads take ~0.05 ms of an H200's bandwidth). Captured
once as CUDA graphs of `every` steps (one report's worth), the epoch's full batches are
replayed, one launch a chunk. The shuffle stays outside: each epoch's permutation is copied into
the static buffer the graphs gather from. Reports, checks, pauses and stops come between chunks,
as they come between batches elsewhere (run_loop.py). The last partial batch, a chunk that a
resume cut short, and every step under a learning-rate schedule (its rate changes each batch; a
graph holds the rate it was captured with) run eagerly. A capture that fails is said once, and
the run goes on with eager chunks; so does one whose first graph, replayed once from the same
weights, does not train as the eager steps do.

On a CPU the chunks are the same steps run eagerly: each batch gathered from the split by its
slice of the permutation, as the loader would, without the loader's generator in between.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

import torch

from ..core.data import TensorLoader
from .fastpath import LinearStep


def chunkable(step: LinearStep | None, loader, device: torch.device) -> bool:
    """Whether an epoch can run in chunks: the written-out step, fed by the fast loader holding
    its shuffled split as float32 on the run's device."""
    return (step is not None and isinstance(loader, TensorLoader) and loader.scaled
            and loader.images.device == device)


class Chunks:
    """An epoch's batches in chunks of `every`, aligned on multiples of `every`.

    `train(X, y, index)` is the loop's own step (its schedule applied); `step` the written-out
    step it calls, which a graph captures."""

    def __init__(self, step: LinearStep, train: Callable[[torch.Tensor, torch.Tensor, int], Any],
                 loader: TensorLoader, every: int, *, graphs: bool, scheduled: bool) -> None:
        self.step, self.train, self.loader, self.every = step, train, loader, every
        self.batch_size = loader.batch_size
        self.num_examples = len(loader.labels)
        self.num_batches = len(loader)
        self.perm = torch.empty(self.num_examples, dtype=torch.long, device=loader.labels.device)
        self.graphs_wanted = graphs and not scheduled
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.pool: Any = None   # the graphs' shared memory pool, once warmed up
        self.warmed = False
        self.verified = False     # the run's first graph replayed against the eager steps

    def epoch(self, start: int,
              say: Callable[[str], None]) -> Iterator[tuple[int, int, Callable[[], None]]]:
        """(first, last, train) for each chunk of the epoch from batch index `start`: batches
        numbered from 1 as the run loop numbers them; `train()` trains them."""
        self.perm.copy_(self.loader.order())
        index = start
        while index < self.num_batches:
            end = min((index // self.every + 1) * self.every, self.num_batches)
            yield index + 1, end, functools.partial(self._train, index, end, say)
            index = end

    def _batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loader.batch(self.perm, i)

    def _train(self, begin: int, end: int, say: Callable[[str], None]) -> None:
        full = (end - begin == self.every and end * self.batch_size <= self.num_examples)
        if self.graphs_wanted and full:
            graph = self.graphs.get(begin) or self._capture(begin, end, say)
            if graph is not None:
                graph.replay()
                self.step.advance(end - begin, self.batch_size)
                return
        for i in range(begin, end):
            X, y = self._batch(i)
            self.train(X, y, i)

    def _capture(self, begin: int, end: int, say: Callable[[str], None]):
        """The graph of batches begin..end-1, captured without changing the weights; None, said
        once, where capture fails (the eager chunks then go on)."""
        step = self.step
        before = step.snapshot()
        try:
            with torch.cuda.device(step.W.device):   # --device cuda:N: streams of that GPU
                graph = self._record(begin, end, before)
            step.restore(before)
            if not self.verified and not self.agrees(begin, end, graph.replay):
                raise RuntimeError("the replayed graph and the eager steps disagree")
            self.verified = True
        except Exception as exc:   # any failure: the eager steps are the same arithmetic
            self.graphs_wanted = False
            say(f"CUDA graphs unavailable ({type(exc).__name__}: {str(exc)[:120]}); "
                "training with eager steps")
            graph = None
        finally:
            step.restore(before)
        if graph is not None:
            self.graphs[begin] = graph
        return graph

    @torch.no_grad()
    def agrees(self, begin: int, end: int, replay: Callable[[], None]) -> bool:
        """Whether `replay` trains batches begin..end-1 as the eager steps do (weights and
        logits to float tolerance), both from the weights as they are now, which it leaves as
        they were: the first graph of a run is checked so before it trains anything."""
        step = self.step
        before = step.snapshot()
        rows = slice(step.filled, step.filled + (end - begin) * self.batch_size)
        results = []
        for run in (lambda: [step(*self._batch(i)) for i in range(begin, end)], replay):
            step.restore(before)
            run()
            results.append([step.W.clone(), step.b.clone(), step.logits[rows].clone()])
        step.restore(before)
        return all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(*results))

    def _record(self, begin: int, end: int, before: tuple):
        """Warm up once, then capture batches begin..end-1 into a graph (what `_capture` undoes
        afterwards: the weights the warm-up stepped, the step's bookkeeping)."""
        step = self.step
        if not self.warmed:   # lazy initialisation (cuBLAS, the allocator) before capture
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                step(*self._batch(begin))
            torch.cuda.current_stream().wait_stream(side)
            self.pool = torch.cuda.graph_pool_handle()
            self.warmed = True
        step.restore(before)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the app's own thread may ask the device for figures meanwhile
        with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
            for i in range(begin, end):
                step(*self._batch(i))
        return graph
