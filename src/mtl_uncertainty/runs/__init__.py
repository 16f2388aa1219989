"""A run's life in its job folder: from "what is left to do" to a whole result.json.

- `resume`: a run's identity (config, data and the numbers version of its code) and what it still has to do;
- `folder`: the job folder (writable, cleared of half-written files, locked while one process trains it);
- `checkpoint`: epoch checkpoints, checked before anything is loaded;
- `session`: one run in progress (network, weighting, optimiser, record), checkpointed every epoch;
- `loop`: the epoch loop that drives one session or a stack of them, and writes each result;
- `result`: result.json's writing and the facts about the environment it records;
- `progress`: what a run shows while it trains; `trackers`: where its metrics go besides result.json (logger=...).

May import: `config`, `data`, `model`, `weighting`, `training`, `storage`, `tasks`, `seeding`,
`errors`, `faults`. Never `ops` (Hydra) or `analysis`.
"""
