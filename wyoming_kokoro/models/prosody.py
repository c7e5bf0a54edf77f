"""Kokoro's text encoder and prosody predictor (StyleTTS 2's), for one unpadded sequence.

The parameter names are kokoro's (`kokoro.modules`), so the same checkpoints load
strictly; the forward passes are written for what inference runs: a batch of one
sequence with no padding, so the masks and packed sequences of training are gone,
and no dropout. The style-conditioned residual blocks of the F0 and energy curves
are the decoder's (`istftnet.AdainResBlk1d`), run here in kokoro's own order of
operations (`_exact_block`), not through the decoder's faster `run_block`: the F0
curve drives the harmonic source, whose phase sums it over the whole segment, and
the fast statistics' 4e-6 relative error in F0 was measured to move the audio by
1e-2. These blocks run over a tenth of the decoder's channels and are cheap.
tests/test_network.py checks every module against kokoro's on the fixture weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm

from .istftnet import BLOCK_SLOPE, AdaIN1d, AdainResBlk1d

LAYER_NORM_EPS = 1e-5
_TEXT_SLOPE = 0.2
"""LeakyReLU slope of the text encoder's convolutions."""


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels of [B, C, T] (kokoro's `LayerNorm`: gamma, beta)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(
            x.transpose(1, -1), self.gamma.shape, self.gamma, self.beta, LAYER_NORM_EPS
        )
        return y.transpose(1, -1)


class TextEncoder(nn.Module):
    """Token ids [1, n] -> acoustic features [1, channels, n]: embedding, convolutions, BiLSTM."""

    def __init__(self, channels: int, kernel_size: int, depth: int, n_symbols: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels)
        padding = (kernel_size - 1) // 2
        self.cnn = nn.ModuleList(
            nn.Sequential(
                weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=padding)),
                ChannelLayerNorm(channels),
            )
            for _ in range(depth)
        )
        self.lstm = nn.LSTM(channels, channels // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(input_ids).transpose(1, 2)
        for conv_norm in self.cnn:
            x = F.leaky_relu(conv_norm(x), _TEXT_SLOPE)
        x, _ = self.lstm(x.transpose(1, 2))
        return x.transpose(1, 2)


class AdaLayerNorm(nn.Module):
    """Layer norm over channels (channels last), scaled and shifted by the style."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = torch.chunk(self.fc(style).unsqueeze(1), chunks=2, dim=-1)
        return (1 + gamma) * F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS) + beta


class DurationEncoder(nn.Module):
    """BERT features + style -> the predictor's features: BiLSTM / AdaLayerNorm pairs.

    kokoro keeps both kinds in one list (`lstms`: LSTM, norm, LSTM, norm, ...); the
    names are the checkpoint's.
    """

    def __init__(self, style_dim: int, d_model: int, nlayers: int) -> None:
        super().__init__()
        self.lstms = nn.ModuleList()
        for _ in range(nlayers):
            self.lstms.append(
                nn.LSTM(d_model + style_dim, d_model // 2, 1, batch_first=True, bidirectional=True)
            )
            self.lstms.append(AdaLayerNorm(style_dim, d_model))

    def forward(self, features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """[1, d_model, n] and [1, style_dim] -> [1, n, d_model + style_dim]."""
        styles = style.unsqueeze(1).expand(-1, features.shape[-1], -1)
        x = torch.cat([features.transpose(1, 2), styles], dim=-1)
        for lstm, norm in zip(self.lstms[::2], self.lstms[1::2], strict=True):
            x, _ = lstm(x)
            x = torch.cat([norm(x, style), styles], dim=-1)
        return x


class ProsodyPredictor(nn.Module):
    """Durations per token, then the F0 and energy curves over the aligned frames."""

    def __init__(self, style_dim: int, d_hid: int, nlayers: int, max_dur: int) -> None:
        super().__init__()
        self.text_encoder = DurationEncoder(style_dim, d_hid, nlayers)
        self.lstm = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True)
        self.duration_proj = nn.Module()
        self.duration_proj.linear_layer = nn.Linear(d_hid, max_dur)
        self.shared = nn.LSTM(
            d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True
        )
        self.F0 = self._curve_blocks(d_hid, style_dim)
        self.N = self._curve_blocks(d_hid, style_dim)
        self.F0_proj = nn.Conv1d(d_hid // 2, 1, 1)
        self.N_proj = nn.Conv1d(d_hid // 2, 1, 1)

    @staticmethod
    def _curve_blocks(d_hid: int, style_dim: int) -> nn.ModuleList:
        return nn.ModuleList(
            [
                AdainResBlk1d(d_hid, d_hid, style_dim),
                AdainResBlk1d(d_hid, d_hid // 2, style_dim, upsample=True),
                AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim),
            ]
        )

    def durations(self, features: torch.Tensor, speed: float) -> torch.Tensor:
        """Frames per token (float, before rounding) from the duration encoder's output."""
        x, _ = self.lstm(features)
        return torch.sigmoid(self.duration_proj.linear_layer(x)).sum(dim=-1) / speed

    def curves(
        self, aligned: torch.Tensor, style: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Aligned features [1, d_hid + style_dim, frames] -> F0 and energy [1, 2 frames]."""
        x, _ = self.shared(aligned.transpose(1, 2))
        x = x.transpose(1, 2)
        f0, energy = x, x
        for block in self.F0:
            f0 = _exact_block(block, f0, style)
        for block in self.N:
            energy = _exact_block(block, energy, style)
        return self.F0_proj(f0).squeeze(1), self.N_proj(energy).squeeze(1)


def _adain(layer: AdaIN1d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    gamma, beta = torch.chunk(layer.fc(style).unsqueeze(-1), chunks=2, dim=1)
    return (1 + gamma) * layer.norm(x) + beta


def _exact_block(block: AdainResBlk1d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """`AdainResBlk1d` in kokoro's order of operations: its float rounding, bit for bit."""
    residual = block.pool(F.leaky_relu(_adain(block.norm1, x, style), BLOCK_SLOPE))
    residual = F.leaky_relu(_adain(block.norm2, block.conv1(residual), style), BLOCK_SLOPE)
    residual = block.conv2(residual)
    shortcut = block.upsample(x)
    if block.learned_sc:
        shortcut = block.conv1x1(shortcut)
    return (residual + shortcut) * torch.rsqrt(torch.tensor(2.0))
