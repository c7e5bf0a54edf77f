"""The decoder's frame-rate blocks (`encode`, `decode`) in the vocoder's number format.

Between the text side and the generator, kokoro's decoder runs five AdaIN residual
blocks (`AdainResBlk1d`) at half the frame rate with about 1,000 channels. They
hold 134 MB of the checkpoint's 327 MB in float32 and take about a tenth of a
pass. Their output is the generator's input, which the generator rounds to its own
dtype anyway, so where the generator runs in bf16 (`vocoder.precision_for`) these
blocks do too: measured here (AVX512-BF16), their time drops by about 40 % and
their weights by 67 MB, and the audio stays within the bf16 limit of
tests/test_vocoder.py. Durations and pitch come from earlier layers, which stay
float32, so a bf16 pass keeps the fp32 pass's length.

`run_block` computes `AdainResBlk1d.forward` with the generator's fast AdaIN
statistics (`vocoder.Norms`); in float32 it matches kokoro's to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .istftnet import BLOCK_SLOPE
from .vocoder import Norms

__all__ = ["block_dtype", "prepare_blocks", "run_block"]


def prepare_blocks(decoder: torch.nn.Module, dtype: torch.dtype) -> None:
    """Cast the convolutions of `decoder.encode` and `decoder.decode` to `dtype`.

    The AdaIN layers (their style Linear and affine) stay float32, like the
    generator's: tiny, and applied through `Norms` in float32.
    """
    for block in [decoder.encode, *decoder.decode]:
        for name in ("conv1", "conv2", "conv1x1"):
            if hasattr(block, name):
                getattr(block, name).to(dtype)
        if isinstance(block.pool, torch.nn.ConvTranspose1d):
            block.pool.to(dtype)


def block_dtype(decoder: torch.nn.Module) -> torch.dtype:
    """The dtype `prepare_blocks` left the decoder's blocks in."""
    return decoder.encode.conv1.weight.dtype


def _adain_activate(x: torch.Tensor, adain, norms: Norms) -> torch.Tensor:
    """LeakyReLU(AdaIN(x)) in a new tensor of x's dtype, statistics in float32."""
    k, b = norms.folded(adain, x)
    y = torch.mul(x, k.to(x.dtype)).add_(b.to(x.dtype))
    return F.leaky_relu_(y, BLOCK_SLOPE)


def run_block(block, x: torch.Tensor, norms: Norms) -> torch.Tensor:
    """kokoro's `AdainResBlk1d.forward(x, style)` (eval mode), in the block's dtype.

    `norms` carries the decoder style (`Norms(style)`, mode "local").
    """
    x = x.to(block.conv1.weight.dtype)
    residual = block.conv1(block.pool(_adain_activate(x, block.norm1, norms)))
    residual = block.conv2(_adain_activate(residual, block.norm2, norms))
    shortcut = block.upsample(x)
    if block.learned_sc:
        shortcut = block.conv1x1(shortcut)
    return residual.add_(shortcut).mul_(1 / math.sqrt(2))
