"""A faithful naive port of the source to PyTorch, written the way users usually write it.

The baseline the benchmark measures the suite against: the same network, initialisation,
optimiser and loss, but a DataLoader over tensors that gathers samples one by one in Python,
and a `.item()` on every logged scalar after every step (the source logs them all with
tf.summary). Self-contained on purpose: it shares no code with the suite.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class SamePad(nn.Module):
    """TensorFlow 'same' padding for an even kernel: the extra pixel right and bottom."""

    def __init__(self, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        size = x.shape[-1]
        out = -(-size // self.stride)
        total = max((out - 1) * self.stride + self.kernel - size, 0)
        return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))


class CropTo(nn.Module):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x):
        return x[..., : self.size, : self.size]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            SamePad(2), nn.Conv2d(16, 16, 2), nn.ReLU(),
            SamePad(2), nn.Conv2d(16, 8, 2), nn.ReLU(),
            nn.MaxPool2d(2),
            SamePad(2, 2), nn.Conv2d(8, 8, 2, stride=2), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip
        self.head3 = nn.Sequential(nn.Flatten(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
        self.head10 = nn.Sequential(nn.Flatten(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(8, 8, 3, stride=3), nn.ReLU(),
            nn.ConvTranspose2d(8, 4, 3, stride=2), CropTo(12), nn.ReLU(),
            nn.ConvTranspose2d(4, 2, 3), nn.ReLU(),
            nn.ConvTranspose2d(2, 1, 2, stride=2), nn.Tanh(),
        )  # fmt: skip
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        z = self.encoder(x)
        return self.head3(z), self.head10(z), self.decoder(z)


def train(images: torch.Tensor, digits: torch.Tensor, device: torch.device, steps: int, seed: int = 0) -> dict:
    """Train for `steps` steps as the naive port does; returns timing and the last logged values."""
    torch.manual_seed(seed)
    x = ((images.float() / 255 - 0.5) / 0.5).unsqueeze(1)
    y3 = torch.full_like(digits, 2)
    y3[digits == 2], y3[digits == 6] = 0, 1
    loader = DataLoader(TensorDataset(x, y3, digits), batch_size=256, shuffle=True)
    model = Net().to(device)
    s = nn.Parameter(torch.rand(3, device=device) * 0.8 + 0.2)
    opt = torch.optim.Adam([*model.parameters(), s], lr=1e-4, eps=1e-7)
    log = {}
    done = 0
    start = time.perf_counter()
    while done < steps:
        for xb, y3b, y10b in loader:
            xb, y3b, y10b = xb.to(device), y3b.to(device), y10b.to(device)
            p3, p10, rec = model(xb)
            losses = [F.cross_entropy(p3, y3b), F.cross_entropy(p10, y10b), F.mse_loss(rec, xb)]
            loss = sum(0.5 * torch.exp(-s[i]) * losses[i] + 0.5 * s[i] for i in range(3))
            opt.zero_grad()
            loss.backward()
            opt.step()
            log = {  # what the source writes with tf.summary every step
                "loss": loss.item(),
                "loss_cls3": losses[0].item(),
                "loss_cls10": losses[1].item(),
                "loss_recon": losses[2].item(),
                "acc_cls3": (p3.argmax(1) == y3b).float().mean().item(),
                "acc_cls10": (p10.argmax(1) == y10b).float().mean().item(),
                **{f"s_{i}": s[i].item() for i in range(3)},
            }
            done += 1
            if done == steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - start, "steps": steps, "log": log}
