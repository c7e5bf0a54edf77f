"""The ISTFTNet generator's forward pass, with its elementwise work cut down.

About nine tenths of a Kokoro pass is the generator at the end of the decoder,
and profiled on a 2-core x86 CPU a third of that was not convolution at all but
the elementwise work around it: 48 AdaIN layers (instance norm, then the
style's per-channel affine) each followed by a Snake activation
`x + sin²(αx)/α`, run by kokoro as about nine full passes over the activations,
and PyTorch's instance norm alone costs as much as all the rest because it takes
its statistics with a slow single-pass algorithm.

`generate` computes the same function as kokoro's `Generator.forward` (after the
harmonic source) with:

- the statistics from two fast reductions (mean, and the sum of squares through
  `vector_norm`), about a tenth of instance norm's time, accumulated in float32
  whatever the activations' dtype;
- the normalisation and the style affine folded into one per-channel scale and
  shift, and the Snake evaluated in place, so an AdaIN + Snake pair is six
  passes instead of nine, with no extra full-size temporary;
- the style's affine (48 small Linear layers on the same style vector) made once
  per pass instead of once per window;
- on a long input, the Snake and the residual convolution after it a slice of time
  at a time (`adain_snake_conv`), so a slice stays in the cache between them;
- optionally bfloat16 convolutions and activations (`prepare`), which halve the
  memory traffic and use the CPU's native bf16 dot products where it has them
  (AVX512-BF16, AMX). Where it has not (AVX2-only boxes such as an N100, or a
  Pi 5), oneDNN emulates them and the pass is several times slower, which is
  why `precision_for` only picks bf16 on a CPU that reports the instructions.

In float32 the output matches kokoro's to about 1e-6 (tests/test_vocoder.py).

Between its stages it calls `pausing.pause_point()`, where the scheduler may serve
another client's first sentence before the pass goes on.

The statistics are pluggable (`Norms`): a whole pass takes each layer's own; the
windowed vocoder (`streaming`) pools them from probes, then holds them fixed.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import PRECISIONS
from ..memory import release_free_memory
from .pausing import pause_point

__all__ = ["Norms", "generate", "precision_for", "prepare"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}

ISA_CAP = "ONEDNN_MAX_CPU_ISA"

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""x86 CPU flags (as /proc/cpuinfo spells them) with which oneDNN runs bf16 natively."""


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo is unreadable or has none."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def onednn_allows_bf16(cap: str | None) -> bool:
    """False when `ONEDNN_MAX_CPU_ISA` (the value given) caps oneDNN below native bf16.

    Such a cap (e.g. AVX2, to measure what an N100 gets) hides the instructions
    from oneDNN while /proc/cpuinfo still lists them.
    """
    if not cap:
        return True
    cap = cap.upper()
    return cap in ("ALL", "DEFAULT") or any(tag in cap for tag in ("BF16", "AMX", "FP16", "AVX10"))


def precision_for(setting: str, device: str, flags: frozenset[str] | None = None) -> str:
    """Resolve a `--precision` setting to "fp32" or "bf16" for `device`.

    "auto" gives bf16 on a CPU with native bf16 instructions that oneDNN may use
    (measured faster, and heard the same; see tests/test_vocoder.py) and fp32
    everywhere else, including CUDA, where bf16 is not measured yet.
    """
    if setting not in PRECISIONS:
        raise ValueError(f"precision {setting!r}; expected one of {', '.join(PRECISIONS)}")
    if setting != "auto":
        return setting
    if not device.startswith("cpu") or not onednn_allows_bf16(os.environ.get(ISA_CAP)):
        return "fp32"
    return "bf16" if NATIVE_BF16_FLAGS & (cpu_flags() if flags is None else flags) else "fp32"


def prepare(gen: torch.nn.Module, precision: str) -> None:
    """Cast the generator's convolutions to `precision` in place (after weight-norm folding).

    The AdaIN style layers and the harmonic source stay float32: they are tiny,
    and the source's phase is a long cumulative sum that bf16 would ruin.
    """
    dtype = _DTYPES[precision]
    for name in ("noise_convs", "ups", "conv_post"):
        getattr(gen, name).to(dtype)
    for block in [*gen.noise_res, *gen.resblocks]:
        block.convs1.to(dtype)
        block.convs2.to(dtype)


def generator_dtype(gen: torch.nn.Module) -> torch.dtype:
    """The dtype `prepare` left the generator's convolutions in."""
    return gen.conv_post.weight.dtype


class Norms:
    """The statistics and style affine of the AdaIN layers for one pass (generator, decoder blocks).

    `mode` "local": each call normalises with its input's own statistics over
    time (exactly instance norm: a whole pass). "pool": the same, but pooled over
    the batch too, and remembered per layer (probes). "fixed": the remembered
    statistics (windows after probing).
    """

    def __init__(self, style: torch.Tensor) -> None:
        self.style = style
        self.mode = "local"
        self._affine: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._fixed: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def affine(self, adain) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) [1, C, 1] float32 such that AdaIN(x) = x̂ * scale + shift."""
        key = id(adain)
        if key not in self._affine:
            h = adain.fc(self.style).view(1, -1, 1)
            gamma, beta = torch.chunk(h, chunks=2, dim=1)
            norm = adain.norm
            scale = (1 + gamma) * norm.weight.view(1, -1, 1)
            shift = (1 + gamma) * norm.bias.view(1, -1, 1) + beta
            self._affine[key] = (scale, shift)
        return self._affine[key]

    def stats(self, adain, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, variance) float32 of `x` for this layer, by `mode`."""
        key = id(adain)
        if self.mode == "fixed":
            return self._fixed[key]
        dims = (0, 2) if self.mode == "pool" else (2,)
        count = x.shape[2] * (x.shape[0] if self.mode == "pool" else 1)
        # float32 results, even from bf16 activations: bf16 statistics were measured
        # at 4-14 dB log-mel from the reference, unusable.
        mean, square = _channel_sums(x, dims)
        var = (square.square_() / count - mean.square()).clamp_(min=0)
        if self.mode == "pool":
            self._fixed[key] = (mean, var)
        return mean, var

    def folded(self, adain, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, b) [1, C, 1] float32 such that AdaIN(x) = x * k + b for this `x`."""
        scale, shift = self.affine(adain)
        mean, var = self.stats(adain, x)
        k = scale * torch.rsqrt(var + adain.norm.eps)
        return k, shift - mean * k


STATS_CHUNK_BYTES = 4 << 20
"""Most float32 bytes one statistics call converts at once (see `_channel_sums`)."""


def _channel_sums(x: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and root sum of squares of `x` over `dims`, in float32.

    torch's reductions with `dtype=torch.float32` first convert the whole bf16 input
    to a float32 copy, twice the activation's size, and a pass does 96 of them: for
    a 10-s sentence 22 MB each, the largest short-lived blocks of the pass. Taken a
    few channels at a time the copies stay under `STATS_CHUNK_BYTES`; each channel's
    sum is computed as before, so the figures are the same.
    """
    if x.dtype == torch.float32 or x.numel() * 4 <= STATS_CHUNK_BYTES:
        return (
            torch.mean(x, dim=dims, keepdim=True, dtype=torch.float32),
            torch.linalg.vector_norm(x, dim=dims, keepdim=True, dtype=torch.float32),
        )
    step = max(1, STATS_CHUNK_BYTES * x.shape[1] // (x.numel() * 4))
    parts = [_channel_sums(x[:, c : c + step], dims) for c in range(0, x.shape[1], step)]
    return torch.cat([m for m, _ in parts], dim=1), torch.cat([q for _, q in parts], dim=1)


def _snake(x: torch.Tensor, k: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Snake(x * k + b), elementwise, in a new tensor of x's dtype."""
    alpha = alpha.float()
    u = torch.mul(x, (k * alpha).to(x.dtype))  # u = αy
    u.add_((b * alpha).to(x.dtype)).sin_().square_()
    u.mul_((1 / alpha).to(x.dtype)).add_(b.to(x.dtype))  # sin²(αy)/α + b
    return u.add_(torch.mul(x, k.to(x.dtype)))


CONV_SLICE_BYTES = 1 << 20
"""Input bytes per time slice of a residual convolution (see `adain_snake_conv`)."""

SLICE_FROM_BYTES = 4 << 20
"""Inputs up to this size are not sliced (a short sentence: 2.4 MB at S1's last stage).

Slicing gains little there (S1's generator 6 % in-process, nothing measurable through
the server, where runs vary by 10 %) and triples the Python-level steps of the pass, so
short passes stay whole, exactly as before."""


def adain_snake_conv(
    x: torch.Tensor, adain, alpha: torch.Tensor, norms: Norms, conv: torch.nn.Conv1d
) -> torch.Tensor:
    """conv(Snake(AdaIN(x))), a slice of time at a time when x is long
    (over `SLICE_FROM_BYTES`).

    The statistics come from the whole of x first; then the activation and the
    convolution run over slices of about `CONV_SLICE_BYTES` of input, each with the
    `padding` samples either side that the convolution reads (zeros past the ends,
    as its own padding would be). A slice stays in the CPU's cache between the
    activation and the convolution, and neither the activation nor oneDNN's
    reordered copies of it are ever full-size. Measured on a 9.5-s sentence (2-core
    Xeon): the generator took 35 % less time in bf16 (1.98 -> 1.29 s) and 9 % less in
    fp32, and its resident memory rose 130 and 90 MiB less. In fp32 the audio is the
    whole tensor's bit for bit; in bf16 the convolutions round differently (oneDNN
    blocks a shorter input differently), and the sliced pass is as close to fp32 as
    the whole one (log-mel 0.49 / 0.71 / 0.72 dB against 0.50 / 0.71 / 0.72 on S1,
    S3 and that sentence).
    """
    k, b = norms.folded(adain, x)
    if x.device.type != "cpu" or x.numel() * x.element_size() <= SLICE_FROM_BYTES:
        return conv(_snake(x, k, b, alpha))  # a GPU has no such cache to keep a slice in
    width = x.shape[-1]
    step = max(256, CONV_SLICE_BYTES // (x.shape[1] * x.element_size()))
    (reach,) = conv.padding
    (dilation,) = conv.dilation
    assert conv.stride == (1,) and 2 * reach == dilation * (conv.kernel_size[0] - 1)
    out = x.new_empty((x.shape[0], conv.out_channels, width))
    for start in range(0, width, step):
        stop = min(width, start + step)
        lo, hi = max(0, start - reach), min(width, stop + reach)
        piece = _snake(x[..., lo:hi], k, b, alpha)
        if hi - lo < stop - start + 2 * reach:  # an end of x: the convolution's zeros
            piece = F.pad(piece, (lo - start + reach, stop + reach - hi))
        out[..., start:stop] = F.conv1d(piece, conv.weight, conv.bias, dilation=dilation)
    return out


def _resblock(block, x: torch.Tensor, norms: Norms) -> torch.Tensor:
    """kokoro's `AdaINResBlock1.forward`."""
    for c1, c2, n1, n2, a1, a2 in zip(
        block.convs1,
        block.convs2,
        block.adain1,
        block.adain2,
        block.alpha1,
        block.alpha2,
        strict=True,
    ):
        pause_point()  # 24 a pass, each a few percent of it
        xt = adain_snake_conv(x, n1, a1, norms, c1)
        xt = adain_snake_conv(xt, n2, a2, norms, c2)
        x = xt.add_(x)
    return x


TRIM_FROM_FRAMES = 240
"""Passes of at least this many frames (3 s of audio) give freed memory back to the
system between their stages and residual blocks."""


def _trims_as_it_goes(x: torch.Tensor) -> bool:
    """Whether this pass (generator input frames x) returns freed heap pages to the
    system as it goes, not only when it is done.

    A long pass's tensors change size at each stage: the harmonic source's
    [samples, 9] float32 temporaries before the generator, then each upsampling
    stage's activations (256 channels at 10x the frame rate, then 128 at 60x: up to
    12 MB each in bf16 for a 10-s sentence). glibc keeps freed pages where the next
    tensors do not fit, so a pass's resident memory rose well above what it had in
    use, and a short request's pass nested in a long one (models/pausing.py) added
    its own on top. Trimming as each stage begins and after each residual block (10
    times a pass) lowered the server's peak over the benchmark's traffic from
    993-1005 to 918-922 MiB streaming P60, and to 937-949 MiB with another client's
    S1 nested in it (968-983 with trims at the stages only; 2-core Xeon, bf16), for
    1-2 % of a long pass's time (a trim takes about 3 ms, at most 9). Short passes,
    where first audio is waited for, skip it.
    """
    return x.device.type == "cpu" and x.shape[-1] >= TRIM_FROM_FRAMES


def _no_trim() -> None:
    """A short pass keeps its freed memory until the scheduler's trim after the job."""


def generate(gen, x: torch.Tensor, har: torch.Tensor, norms: Norms) -> torch.Tensor:
    """kokoro's `Generator.forward` after the source: frames x [B, C, n] and the
    source spectrum har [B, n_fft + 2, 60 n + 1] -> float32 audio [B, samples]."""
    dtype = generator_dtype(gen)
    x = x.to(dtype)
    har = har.to(dtype)
    trim = release_free_memory if _trims_as_it_goes(x) else _no_trim
    for i in range(gen.num_upsamples):
        trim()
        x = F.leaky_relu(x, negative_slope=0.1)
        x_source = _resblock(gen.noise_res[i], gen.noise_convs[i](har), norms)
        trim()
        x = gen.ups[i](x)
        if i == gen.num_upsamples - 1:
            x = gen.reflection_pad(x)
        x = x.add_(x_source)
        del x_source
        xs = None
        for j in range(gen.num_kernels):
            out = _resblock(gen.resblocks[i * gen.num_kernels + j], x, norms)
            xs = out if xs is None else xs.add_(out)
            del out
            trim()
        x = xs.div_(gen.num_kernels)
    x = gen.conv_post(F.leaky_relu(x)).float()
    spec = torch.exp(x[:, : gen.post_n_fft // 2 + 1, :])
    phase = torch.sin(x[:, gen.post_n_fft // 2 + 1 :, :])
    return gen.stft.inverse(spec, phase).reshape(x.shape[0], -1)
