"""The network: the source's layer shapes, TF 'same' padding, Keras-style initialisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtl_uncertainty.model import Conv2dSame, ConvTranspose2dSame, build_model, same_padding


def test_shapes_through_encoder_heads_and_decoder() -> None:
    model = build_model("keras", 0)
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    sizes = []
    h = x
    for layer in model.encoder:
        h = layer(h)
        sizes.append(tuple(h.shape[1:]))
    assert sizes[4] == (16, 14, 14) and sizes[9] == (8, 7, 7) and sizes[10] == (8, 4, 4)
    assert sizes[-1] == (8, 2, 2)
    dec = [tuple(h.shape[1:])]
    for layer in model.decoder:
        h = layer(h)
        if not isinstance(layer, (nn.ReLU, nn.Tanh)):
            dec.append(tuple(h.shape[1:]))
    assert dec == [(8, 2, 2), (8, 6, 6), (4, 12, 12), (2, 14, 14), (1, 28, 28)]
    out = model(x)
    assert out.logits3.shape == (5, 3) and out.logits10.shape == (5, 10)
    assert out.recon.shape == x.shape and out.recon.abs().max() <= 1
    assert model(x, reconstruct=False).recon is None


def test_tf_same_padding_puts_the_extra_pixel_right_and_bottom() -> None:
    assert same_padding(28, 3, 1) == (1, 1)
    assert same_padding(14, 2, 1) == (0, 1)
    assert same_padding(7, 2, 2) == (0, 1)
    conv = Conv2dSame(1, 1, 2, stride=2, bias=False)
    nn.init.ones_(conv.weight)
    x = torch.arange(49.0).reshape(1, 1, 7, 7)
    out = conv(x)
    assert out.shape == (1, 1, 4, 4)
    assert torch.equal(out, F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2))
    assert out[0, 0, 3, 3].item() == 48.0  # the bottom-right window holds only the last pixel


def test_transposed_same_keeps_the_first_input_times_stride_pixels() -> None:
    deconv = ConvTranspose2dSame(2, 3, 3, stride=2)
    x = torch.randn(1, 2, 6, 6)
    full = nn.functional.conv_transpose2d(x, deconv.weight, deconv.bias, stride=2)
    assert full.shape[-1] == 13
    assert torch.equal(deconv(x), full[..., :12, :12])


def test_keras_init_is_glorot_uniform_with_zero_biases_and_seeded() -> None:
    model = build_model("keras", 3)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert len(layers) == 4 + 1 + 4 + 4  # encoder convs, its strided conv, 2 heads × 2, decoder
    for layer in layers:
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= limit
        assert layer.weight.abs().max() > 0.5 * limit
        assert torch.count_nonzero(layer.bias) == 0
    big = model.encoder[2].weight  # 16×16×3×3: its spread tells uniform(−limit, limit) apart
    limit = math.sqrt(6 / (16 * 9 + 16 * 9))
    assert big.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.1)
    same = build_model("keras", 3).state_dict()
    other = build_model("keras", 4).state_dict()
    assert all(torch.equal(v, same[k]) for k, v in model.state_dict().items())
    assert not torch.equal(other["head3.1.weight"], same["head3.1.weight"])


def test_torch_init_differs_from_keras_init() -> None:
    keras, torch_default = build_model("keras", 0), build_model("torch", 0)
    assert torch.count_nonzero(torch_default.head10[1].bias) > 0
    assert not torch.equal(keras.encoder[0].weight, torch_default.encoder[0].weight)


def test_pooling_before_relu_is_the_sources_relu_then_pool_exactly() -> None:
    """The encoder pools before its ReLUs; values and gradients equal the source's order bit for bit."""
    model = build_model("keras", 0)
    source_order = []
    layers = list(model.encoder)
    i = 0
    while i < len(layers):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            source_order += [layers[i + 1], layers[i]]
            i += 2
        else:
            source_order.append(layers[i])
            i += 1
    source = nn.Sequential(*source_order)
    x = torch.randn(8, 1, 28, 28)
    ours, theirs = model.encoder(x), source(x)
    assert torch.equal(ours, theirs)
    g = torch.randn_like(ours)
    grads_ours = torch.autograd.grad(ours, list(model.encoder.parameters()), g)
    grads_theirs = torch.autograd.grad(theirs, list(source.parameters()), g)
    assert all(torch.equal(a, b) for a, b in zip(grads_ours, grads_theirs))
