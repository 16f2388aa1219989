"""What the decoder does in its first steps: the probe behind `model.output_bias` (docs/results.md).

    python bench/decoder_probe.py --seed 100 --lr 1e-3 --steps 800 [--output-bias mean] [--data-root DIR]

Trains the source's network with fixed equal weights on MNIST (the last 10,000 training images held
out, as the regime search does) and prints, every `steps/8` steps: the batch's reconstruction MSE, the
share of active units and the mean activation of the 2-channel ReLU layer before the decoder's output,
the mean pre-tanh output on foreground (pixel > 0) and background pixels, and the output bias. On the
all-background plateau the activations grow, the pre-tanh output goes far below -1 everywhere (the tanh
saturates, so no gradient is left) and the output bias hardly moves. A probe, not a run: nothing is
written, and its steps are the suite's (same data order, initialisation and Adam) but not its loop.
"""

from __future__ import annotations

import argparse

import torch

from mtl_uncertainty import compose
from mtl_uncertainty.data.floors import mean_pixel
from mtl_uncertainty.data.splits import epoch_order, load_data
from mtl_uncertainty.model import build_model
from mtl_uncertainty.seeding import generator, stream_seed
from mtl_uncertainty.tasks import task_losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--output-bias", choices=["zero", "mean"], default="zero")
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = compose(["weighting=fixed", f"data.root={args.data_root}", "data.val_size=10000", f"seed={args.seed}"])
    data = load_data(cfg, torch.device("cpu"))
    mean = mean_pixel(data.train) if args.output_bias == "mean" else None
    model = build_model("keras", stream_seed(args.seed, "model"), mean)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=cfg.train.adam_eps)
    seen: dict[str, torch.Tensor] = {}
    model.decoder[5].register_forward_hook(lambda m, i, o: seen.__setitem__("h", o.detach()))
    model.decoder[6].register_forward_hook(lambda m, i, o: seen.__setitem__("z", o.detach()))
    n, batch, step, epoch = len(data.train), cfg.train.batch_size, 0, 0
    print("step  mse    active  mean_h  z_fg    z_bg    bias")
    while step < args.steps:
        epoch += 1
        order = epoch_order(n, generator(args.seed, "data", epoch), torch.device("cpu"))
        for i in range(0, n, batch):
            step += 1
            x, y3, y10 = data.train.batch(order[i : i + batch])
            losses = task_losses(model(x), x, y3, y10)
            optimizer.zero_grad()
            losses.sum().backward()
            optimizer.step()
            if step % max(args.steps // 8, 1) == 0:
                h, z, fg = seen["h"], seen["z"], x > 0
                print(
                    f"{step:<5} {losses[2].item():.3f}  {(h > 0).float().mean():.2f}    {h.mean():<7.3f} "
                    f"{z[fg].mean():<7.2f} {z[~fg].mean():<7.2f} {model.decoder[6].bias.item():.2f}"
                )
            if step >= args.steps:
                break


if __name__ == "__main__":
    main()
