"""Every random draw of a run comes from one of a few named streams derived from its seed.

Streams are independent of each other and of the device, so the weights, the initial s and
the data order of a run are the same on a CPU, on a GPU and inside a stacked sweep.
"""

from __future__ import annotations

import numpy as np
import torch

STREAMS = ("model", "sigma", "data", "weighting")


def stream_seed(seed: int, stream: str, *keys: int) -> int:
    """A 63-bit seed for `stream` of the run seeded with `seed` (`keys`: e.g. the epoch)."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(STREAMS.index(stream), *keys))
    return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))


def generator(seed: int, stream: str, *keys: int) -> torch.Generator:
    """A CPU generator for `stream`, seeded from the run's seed."""
    return torch.Generator().manual_seed(stream_seed(seed, stream, *keys))
