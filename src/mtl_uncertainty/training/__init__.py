"""Training networks: the step, the epoch's batches, evaluation, and the fast paths.

- `trainer`: one network and its weighting, trained a step and an epoch at a time, and evaluated;
- `steps`: the per-step row of metrics kept on the device, and its layout;
- `stacked`: several runs trained as one stacked network (`torch.func` + `vmap`);
- `cuda_graphs`: training steps captured once and replayed (CUDA only);
- `record`: what a run remembers (history, trajectory) from the step rows;
- `devices`: the device, memory layout, CPU threads and whether CUDA graphs are used.

May import: `config`, `data`, `model`, `weighting`, `tasks`, `seeding`, `faults`. Never `runs`, `ops`
or `analysis`.
"""
