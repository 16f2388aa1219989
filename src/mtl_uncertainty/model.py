"""The source's network: a small shared conv encoder, two classifier heads and a decoder.

Layer for layer the Keras model of the source, with TensorFlow's 'same' padding reproduced
exactly (for even kernels and strides TF pads the extra pixel on the right and bottom) and, by
default, Keras's initialisation (Glorot-uniform weights, zero biases).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tasks import Outputs


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (before, after) for one spatial dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow's 'same' padding, asymmetric where TF's is."""

    def forward(self, x: Tensor) -> Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride)


class ConvTranspose2dSame(nn.ConvTranspose2d):
    """Transposed conv with TF's 'same' output size (input × stride), cropped as TF crops."""

    def forward(self, x: Tensor) -> Tensor:
        full = super().forward(x)
        h, w = x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        top = (full.shape[-2] - h) // 2
        left = (full.shape[-1] - w) // 2
        return full[..., top : top + h, left : left + w]


TASK_MODULES: dict[str, str] = {"cls3": "head3", "cls10": "head10", "recon": "decoder"}
"""Each task's own part of the network (its head, or the decoder), by task name."""


def classifier(num_classes: int, features: int = 32, hidden: int = 32) -> nn.Sequential:
    """Flatten → Dense(32) → ReLU → Dense(classes); the softmax lives in the loss."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)
    )


class MultiTaskNet(nn.Module):
    """Shared encoder (28×28×1 → 8×2×2) with a 3-class head, a 10-class head and a decoder."""

    def __init__(self) -> None:
        super().__init__()
        # The source applies ReLU, then max-pooling. Pooling first computes the same function (ReLU
        # is monotone, so both orders pick the same maximum and pass gradient to the same pixel)
        # with a quarter of the ReLU work. Every ReLU works in place: no layer before one needs its own
        # output for its gradient (convolutions and dense layers keep their input, pooling its indices),
        # and ReLU's gradient reads the result, so the numbers are the same and a copy of each
        # activation is neither allocated nor written.
        self.encoder = nn.Sequential(
            Conv2dSame(1, 16, 3),
            nn.ReLU(inplace=True),
            Conv2dSame(16, 16, 3),
            nn.MaxPool2d(2, 2),
            nn.ReLU(inplace=True),
            Conv2dSame(16, 16, 2),
            nn.ReLU(inplace=True),
            Conv2dSame(16, 8, 2),
            nn.MaxPool2d(2, 2),
            nn.ReLU(inplace=True),
            Conv2dSame(8, 8, 2, stride=2),
            nn.MaxPool2d(2, 2),
            nn.ReLU(inplace=True),
        )
        self.head3 = classifier(3)
        self.head10 = classifier(10)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(8, 8, 3, stride=3),
            nn.ReLU(inplace=True),
            ConvTranspose2dSame(8, 4, 3, stride=2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(4, 2, 3, stride=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2, 1, 2, stride=2),
            nn.Tanh(),
        )

    def shared_module(self) -> nn.Module:
        """The encoder: every task reads its output, the shared representation z."""
        return self.encoder

    def shared_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The parameters every task's loss depends on (the encoder's), by name."""
        return list(self.encoder.named_parameters(prefix="encoder"))

    def task_parameters(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Each task's own parameters, by task and name: no other task's loss depends on them."""
        return {task: list(getattr(self, m).named_parameters(prefix=m)) for task, m in TASK_MODULES.items()}

    def last_shared_layer(self) -> nn.Conv2d:
        """The encoder's last layer with weights: where GradNorm measures each task's gradient."""
        return [m for m in self.encoder if isinstance(m, nn.Conv2d)][-1]

    def forward(self, x: Tensor, reconstruct: bool = True) -> Outputs:
        z = self.encoder(x)
        return Outputs(self.head3(z), self.head10(z), self.decoder(z) if reconstruct else None)


def init_keras_(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """Keras defaults: Glorot-uniform weights, zero biases, for every conv and dense layer.

    Glorot's limit depends on fan_in + fan_out only, so the transposed convs' swapped fan
    convention (Keras and PyTorch lay their kernels out differently) does not change it.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight, generator=generator)
            nn.init.zeros_(module.bias)


def init_torch_(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's own defaults (each layer's reset_parameters), drawn from `generator` in the same order.

    Kaiming-uniform weights with a = √5 and biases uniform in ±1/√fan_in, layer by layer, weight
    before bias: the numbers PyTorch's initialisers draw from a global generator seeded alike.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            fan_in = module.weight.shape[1] * math.prod(module.weight.shape[2:])  # as PyTorch counts it
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)


INITS = {"keras": init_keras_, "torch": init_torch_}


def build_model(init: str, seed: int, output_mean: float | None = None) -> MultiTaskNet:
    """The network on the CPU, initialised from `seed` alone ('keras' or 'torch' style).

    Built without values (on the meta device), then every weight is drawn from the run's own
    generator: PyTorch's global generator is never drawn from or seeded, so runs in several
    threads of one process do not share it.

    `output_mean` (a pixel value in (−1, 1)), where given, sets the decoder's last bias to
    atanh(output_mean): with the rest of the decoder's output near 0 at initialisation, the network
    first predicts that pixel everywhere instead of 0. Given the mean training pixel, the decoder no
    longer has to reach the mostly dark background by growing its activations, the fast route that
    saturates the tanh (no gradient left) and ends on the all-background plateau in some seeds.
    """
    if init not in INITS:
        raise ValueError(f"unknown model.init {init!r}: use 'keras' or 'torch'")
    with torch.device("meta"):
        model = MultiTaskNet()
    model = model.to_empty(device="cpu")
    INITS[init](model, torch.Generator().manual_seed(seed))
    if output_mean is not None:
        if not -1 < output_mean < 1:
            raise ValueError(f"output_mean={output_mean} is no pixel value a tanh output reaches: use one in (-1, 1)")
        nn.init.constant_(model.decoder[-2].bias, math.atanh(output_mean))
    return model
