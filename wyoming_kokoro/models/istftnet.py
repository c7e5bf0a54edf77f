"""Kokoro's decoder (StyleTTS 2's ISTFTNet): the layers, with kokoro's parameter names.

These classes hold the weights; the passes through them are written where they
are tuned: `decoder_blocks.run_block` for the frame-rate residual blocks,
`vocoder.generate` for the generator's convolutions, `HarmonicSource` here for
the excitation. The names and shapes are kokoro's (`kokoro.istftnet`), so a
checkpoint loads strictly, and convolutions carry the hook-based weight norm the
checkpoints were saved with (`weight_g`, `weight_v`) until
`KokoroNetwork.optimize` folds it. tests/test_network.py checks the passes
against kokoro's own on the fixture weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm

SAMPLE_RATE = 24000
"""Kokoro's output sample rate (Hz), the same for every generation."""

HARMONICS = 8
"""Overtones of the harmonic source above F0 (9 sines in all)."""
SINE_AMPLITUDE = 0.1
VOICED_NOISE = 0.003
"""Noise level in voiced frames; unvoiced frames get SINE_AMPLITUDE / 3."""
VOICED_THRESHOLD = 10.0
"""F0 (Hz) above which a sample counts as voiced."""

BLOCK_SLOPE = 0.2
"""The LeakyReLU slope inside `AdainResBlk1d` (decoder and F0/energy blocks alike)."""


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class AdaIN1d(nn.Module):
    """Instance norm over time, then a per-channel affine made from the style."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm1d(channels, affine=True)
        self.fc = nn.Linear(style_dim, channels * 2)


class Upsample2x(nn.Module):
    """Nearest-neighbour doubling along time (a block's shortcut when it upsamples)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")


class AdainResBlk1d(nn.Module):
    """Residual block at frame rate: AdaIN, LeakyReLU, conv, twice; optional 2x upsampling."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample_type = "nearest" if upsample else "none"
        self.upsample = Upsample2x() if upsample else nn.Identity()
        self.learned_sc = dim_in != dim_out
        self.conv1 = weight_norm(nn.Conv1d(dim_in, dim_out, 3, 1, 1))
        self.conv2 = weight_norm(nn.Conv1d(dim_out, dim_out, 3, 1, 1))
        self.norm1 = AdaIN1d(style_dim, dim_in)
        self.norm2 = AdaIN1d(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = weight_norm(nn.Conv1d(dim_in, dim_out, 1, 1, 0, bias=False))
        if upsample:
            # A learned depthwise 2x upsampling of the residual branch.
            self.pool = weight_norm(
                nn.ConvTranspose1d(
                    dim_in, dim_in, 3, stride=2, groups=dim_in, padding=1, output_padding=1
                )
            )
        else:
            self.pool = nn.Identity()


class AdaINResBlock1(nn.Module):
    """The generator's residual block: three dilated conv pairs, each after AdaIN + Snake."""

    def __init__(
        self, channels: int, kernel_size: int, dilations: Sequence[int], style_dim: int
    ) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(
                nn.Conv1d(
                    channels,
                    channels,
                    kernel_size,
                    1,
                    dilation=d,
                    padding=_padding(kernel_size, d),
                )
            )
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            weight_norm(
                nn.Conv1d(channels, channels, kernel_size, 1, padding=_padding(kernel_size))
            )
            for _ in dilations
        )
        self.adain1 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in dilations)
        self.adain2 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in dilations)
        # Snake's per-channel frequency.
        self.alpha1 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations)
        self.alpha2 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations)


class HarmonicSource(nn.Module):
    """The neural source filter's excitation: F0 -> sines of 9 harmonics plus noise, merged.

    The random parts (initial phases, then noise) are drawn in kokoro's order from
    the global generator, so a seeded pass gives kokoro's excitation.
    """

    def __init__(self, upsample_scale: int) -> None:
        super().__init__()
        self.upsample_scale = upsample_scale
        self.l_linear = nn.Linear(HARMONICS + 1, 1)

    def forward(self, f0: torch.Tensor) -> torch.Tensor:
        """F0 at the sample rate [B, samples, 1] -> excitation [B, samples, 1]."""
        # Sample-rate tensors are [B, samples, 9] float32, 8 MB for a 10-s sentence, so
        # each step works in place where kokoro makes a new one: the same values,
        # elementwise (tests/test_network.py compares them bit for bit), in a third of
        # the memory.
        harmonics = torch.arange(1, HARMONICS + 2, dtype=f0.dtype, device=f0.device)
        rad = torch.mul(f0, harmonics).div_(SAMPLE_RATE).remainder_(1)
        initial = torch.rand(f0.shape[0], HARMONICS + 1, device=f0.device)
        initial[:, 0] = 0  # the fundamental starts at phase 0
        rad[:, 0, :] = rad[:, 0, :] + initial
        # The phase is integrated at frame rate, then interpolated back (kokoro's way:
        # cheaper, and smooth across frames).
        rad = F.interpolate(
            rad.transpose(1, 2), scale_factor=1 / self.upsample_scale, mode="linear"
        )
        phase = torch.cumsum(rad, dim=-1) * 2 * torch.pi
        phase = F.interpolate(
            phase * self.upsample_scale, scale_factor=self.upsample_scale, mode="linear"
        ).transpose(1, 2)
        voiced = (f0 > VOICED_THRESHOLD).to(torch.float32)
        noise_level = voiced * VOICED_NOISE + (1 - voiced) * SINE_AMPLITUDE / 3
        sines = phase.sin_().mul_(SINE_AMPLITUDE)
        noise = torch.randn_like(sines).mul_(noise_level)
        source = sines.mul_(voiced).add_(noise)
        del noise
        return torch.tanh(self.l_linear(source))


class STFT(nn.Module):
    """Short-time Fourier transform and its inverse with a periodic Hann window."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        # A plain attribute, as in kokoro (no checkpoint holds it); `KokoroNetwork`
        # remakes it when the network was built on the meta device.
        self.window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32)

    def transform(self, signal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, samples] -> magnitude and phase [B, n_fft / 2 + 1, frames]."""
        spectrum = torch.stft(
            signal,
            self.n_fft,
            self.hop_length,
            self.n_fft,
            window=self.window.to(signal.device),
            return_complex=True,
        )
        return torch.abs(spectrum), torch.angle(spectrum)

    def inverse(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """Magnitude and phase -> [B, 1, samples]."""
        signal = torch.istft(
            magnitude * torch.exp(phase * 1j),
            self.n_fft,
            self.hop_length,
            self.n_fft,
            window=self.window.to(magnitude.device),
        )
        return signal.unsqueeze(-2)


class Generator(nn.Module):
    """ISTFTNet: frames -> two transposed-conv upsamplings with residual stacks -> iSTFT."""

    def __init__(
        self,
        style_dim: int,
        resblock_kernel_sizes: Sequence[int],
        upsample_rates: Sequence[int],
        upsample_initial_channel: int,
        resblock_dilation_sizes: Sequence[Sequence[int]],
        upsample_kernel_sizes: Sequence[int],
        gen_istft_n_fft: int,
        gen_istft_hop_size: int,
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.num_upsamples = len(upsample_rates)
        scale = math.prod(upsample_rates) * gen_istft_hop_size
        self.m_source = HarmonicSource(scale)
        self.f0_upsamp = nn.Upsample(scale_factor=scale)
        self.noise_convs = nn.ModuleList()
        self.noise_res = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = upsample_initial_channel
        for i, (rate, kernel) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            self.ups.append(
                weight_norm(
                    nn.ConvTranspose1d(
                        channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2
                    )
                )
            )
            channels //= 2
            for size, dilations in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(AdaINResBlock1(channels, size, dilations, style_dim))
            if i + 1 < len(upsample_rates):
                stride = math.prod(upsample_rates[i + 1 :])
                self.noise_convs.append(
                    nn.Conv1d(
                        gen_istft_n_fft + 2,
                        channels,
                        kernel_size=stride * 2,
                        stride=stride,
                        padding=(stride + 1) // 2,
                    )
                )
                self.noise_res.append(AdaINResBlock1(channels, 7, [1, 3, 5], style_dim))
            else:
                self.noise_convs.append(nn.Conv1d(gen_istft_n_fft + 2, channels, kernel_size=1))
                self.noise_res.append(AdaINResBlock1(channels, 11, [1, 3, 5], style_dim))
        self.post_n_fft = gen_istft_n_fft
        self.conv_post = weight_norm(nn.Conv1d(channels, gen_istft_n_fft + 2, 7, 1, padding=3))
        self.reflection_pad = nn.ReflectionPad1d((1, 0))
        self.stft = STFT(gen_istft_n_fft, gen_istft_hop_size)

    def source_spectrum(self, f0_curve: torch.Tensor) -> torch.Tensor:
        """F0 curve [1, 2 frames] -> the excitation's magnitude and phase
        [1, n_fft + 2, 60 frames + 1], the generator's second input."""
        f0 = self.f0_upsamp(f0_curve[:, None]).transpose(1, 2)
        excitation = self.m_source(f0).transpose(1, 2).squeeze(1)
        magnitude, phase = self.stft.transform(excitation)
        return torch.cat([magnitude, phase], dim=1)


class Decoder(nn.Module):
    """Aligned text features, F0 and energy -> the generator's input frames, and the generator."""

    def __init__(self, dim_in: int, style_dim: int, dim_out: int, **istftnet) -> None:
        super().__init__()
        del dim_out  # the mel width of training; inference has no mel output
        self.encode = AdainResBlk1d(dim_in + 2, 1024, style_dim)
        self.decode = nn.ModuleList(
            [
                AdainResBlk1d(1024 + 2 + 64, 1024, style_dim),
                AdainResBlk1d(1024 + 2 + 64, 1024, style_dim),
                AdainResBlk1d(1024 + 2 + 64, 1024, style_dim),
                AdainResBlk1d(1024 + 2 + 64, 512, style_dim, upsample=True),
            ]
        )
        self.F0_conv = weight_norm(nn.Conv1d(1, 1, kernel_size=3, stride=2, padding=1))
        self.N_conv = weight_norm(nn.Conv1d(1, 1, kernel_size=3, stride=2, padding=1))
        self.asr_res = nn.Sequential(weight_norm(nn.Conv1d(512, 64, kernel_size=1)))
        self.generator = Generator(style_dim, **istftnet)
