"""First audio inside a sentence: the vocoder over overlapping windows of frames.

`KokoroNetwork.synthesize` renders a segment in one pass, so its first sample
exists only when the whole segment is done. Nearly all of that time (about nine
tenths) is the ISTFTNet generator at the end of the decoder; everything before it
(BERT, durations, F0/energy, text encoder, the decoder's encode/decode blocks) is
cheap. `synthesize_stream` therefore runs the text side and the decoder front
once per segment, exactly as the whole pass does, and then runs the generator
over windows of its input frames (one frame = 300 samples = 12.5 ms at 24 kHz):

- The harmonic source (SineGen: the phase is a cumulative sum over the whole
  segment) and its random parts (initial phases, noise) are made once for the
  whole segment with the same seed and the same random draws as the whole pass,
  then sliced: the excitation is bit-for-bit the whole pass's excitation.
- Each window is computed with `context` frames of real input on either side
  (more than the generator's convolutions reach), and only its core is kept, so
  the convolutions see exactly what they see in the whole pass.
- What cannot be sliced is the generator's instance normalisation (AdaIN over
  time, 48 layers): statistics over the whole segment. A window's own
  statistics are far off (about 4-8 dB log-mel distance to the whole pass), so
  the statistics are estimated once per segment from a batch of short probes
  spread evenly over it (`vocoder.Norms`), at the price of running the generator over
  the probes (half the segment with the default) before the first window.
  Consecutive pieces are crossfaded over `crossfade` frames.
- The first window is short (first audio quickly), later ones long (less
  overhead per sample, the context costs less).

The default is neither: whole-sentence decoding with a *lead-in* (`LeadIn`). Every
Kokoro sentence begins with the pause its first (pad) token is given, 0.2-0.4 s
before the first word. On a reply's first pass the generator is run once over
that pause plus `context` frames, with its own statistics, and the part of it
that is still quiet (below `quiet_db`) goes out at once; then the whole pass
runs, and its audio from there on follows, crossfaded inside the pause. The
words are the whole pass's samples exactly; only the pause's noise floor is the
lead-in's (measured: within -60 dBFS of the whole pass's). The player starts on
the pause while the sentence is rendered, so the words are heard up to that
pause sooner, less the lead-in's own pass. That pass only pays where the
generator is fast: where it runs fp32 on a CPU it takes longer than the pause it
sends, and the words come later (`LeadIn.always`, `for_generator`).

The pieces' concatenation has exactly the whole pass's length.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .decoder_blocks import block_dtype, run_block
from .network import MAX_TOKENS, NOISE_SEED
from .pausing import pause_point
from .vocoder import Norms, generate

__all__ = [
    "DEFAULT_WINDOW",
    "LEAD_IN",
    "LeadIn",
    "VocoderWindow",
    "for_generator",
    "synthesize_stream",
]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class VocoderWindow:
    """How the generator's frames (12.5 ms each) are cut into windows.

    `first`: core frames of the first window (sets the time to first audio);
    `later`: core frames of every later window; `context`: extra frames computed
    on each side of a core and thrown away; `crossfade`: frames at each join over
    which two neighbouring windows are blended (taken from the context, so at
    most `context`). `probe`, `probe_every`: the instance-norm statistics are
    estimated from probes of `probe` frames, one per `probe_every` frames of the
    segment (see `vocoder.Norms`); `probe=0` gives each window its own statistics
    (for comparison only: far off).
    """

    first: int = 16
    later: int = 80
    context: int = 16
    crossfade: int = 2
    probe: int = 8
    probe_every: int = 16

    def __post_init__(self) -> None:
        if self.first < 1 or self.later < 1:
            raise ValueError("vocoder windows need at least one frame")
        if not 0 <= self.crossfade <= self.context:
            raise ValueError("crossfade must be between 0 and context frames")
        if self.crossfade >= min(self.first, self.later):
            raise ValueError("crossfade must be shorter than a window")
        if self.probe < 0 or self.probe_every < max(1, self.probe):
            raise ValueError("probes must be at most probe_every frames long")


DEFAULT_WINDOW = VocoderWindow()
"""The windowed modes' windows, as measured (benchmarks/vocoder_windows.py)."""


@dataclass(frozen=True)
class LeadIn:
    """Whole decoding, with the pause before a reply's first word sent ahead (see above).

    Measured on the fixture weights (bf16; 4-8 voices, 5-7 short sentences and S3):

    - `context`: at least this many frames are computed after the pause, for the
      lead-in's statistics. The more, the closer they are to the sentence's own:
      the lead-in stayed within -56 dBFS of the whole pass with 16 frames and
      within -60 dBFS with 32, for 1-2 % more time to first audio.
    - `quiet_db`: the lead-in is cut two frames before its first sample this loud.
    - `bucket`: its length is rounded up to a multiple of this, so that its few
      lengths recur and oneDNN's cached primitives serve it (a new length builds
      its primitives first, which made a lead-in cost up to half of S1's pass).
    - `max_frames`: longer passes are decoded whole. The lead-in's statistics
      (the pause and the first words) are further from a long sentence's own: its
      pause added 0.25 dB log-mel to 1-3-s sentences but 0.53 dB to a 10-s one,
      which takes bf16 past the benchmark's 1 dB. A reply's first pass is short
      anyway where it matters: the first piece is cut at a clause after 60
      characters (`--first-clause-chars`).
    - `min_frames`: a shorter quiet lead-in is not worth sending on its own.
    - `crossfade`: frames at the join, inside the pause.
    - `always`: lead in also where the generator runs fp32 on a CPU. Off by
      default, because there the lead-in's pass costs more than the pause it sends
      (`for_generator`). Measured in-process on a 2-core EPYC, time until the
      first word is heard in three short replies (the first line's S1 among them),
      lead-in against whole:
      - bf16 (AVX512-BF16): 0.87 / 0.91 / 0.93 s against 0.90 / 0.95 / 1.08 s;
        it also pays on a Xeon with AMX (S1's words 0.17 s sooner).
      - fp32 with AVX-512: 1.36 / 1.91 / 1.50 s against 1.27 / 1.73 / 1.47 s.
      - fp32 capped at AVX2, as on an N100: 1.33 / 1.41 / 1.66 s against
        1.13 / 1.28 / 1.55 s.
    """

    context: int = 32
    quiet_db: float = -50.0
    bucket: int = 16
    max_frames: int = 320
    min_frames: int = 8
    crossfade: int = 2
    always: bool = False

    def __post_init__(self) -> None:
        if min(self.context, self.bucket, self.max_frames) < 1 or not (
            0 <= self.crossfade < self.min_frames
        ):
            raise ValueError("a lead-in needs context, and a crossfade shorter than it")


LEAD_IN = LeadIn()

VOCODER_MODES: dict[str, LeadIn | VocoderWindow | None] = {
    "auto": LEAD_IN,
    "lead-in": LeadIn(always=True),
    "off": None,
    "probes": DEFAULT_WINDOW,
    "fast": VocoderWindow(probe=0),
}
"""`--vocoder-window` values. "lead-in" decodes each pass whole and sends a reply's opening
pause ahead; "auto" (the default) does so only where the generator is fast enough for it to
pay (`for_generator`); "off" decodes whole and sends nothing ahead. Measured, the
windowed modes either bring first audio no sooner on a short sentence ("probes": 1.3-1.7 dB
log-mel from whole decoding, first audio about 1.0x the whole pass) or change the sound
("fast": first audio about 0.46x, but 4.4-8 dB off), because the generator's instance
normalisation needs the whole sentence's statistics."""


def for_generator(
    window: LeadIn | VocoderWindow | None, device: str, precision: str
) -> LeadIn | VocoderWindow | None:
    """`window` as it applies to a generator on `device` running in `precision`.

    A lead-in that is not `always` is dropped where the generator runs fp32 on a
    CPU (an AVX2 box such as an N100, a Raspberry Pi, or fp32 by choice): there
    its pass takes longer than the pause it sends, so the words would come later
    (measured: `LeadIn.always`). The choice depends on the machine's instructions
    and the settings only, never on timing, so a request's audio is the same from
    one run to the next.
    """
    slow = device.startswith("cpu") and precision == "fp32"
    return None if slow and isinstance(window, LeadIn) and not window.always else window


def synthesize_stream(
    network,
    token_ids: list[int],
    style: torch.Tensor,
    speed: float,
    window: LeadIn | VocoderWindow | None = DEFAULT_WINDOW,
    first: bool = False,
) -> Iterator[torch.Tensor]:
    """Speak one segment as mono float32 CPU pieces at 24 kHz, first audio early.

    `network` is a `KokoroNetwork`; `token_ids` exclude the pads, `style` is a
    [1, 256] style vector. With `window=None` the segment is decoded whole and
    yielded as one piece: kokoro's `KModel.forward_with_tokens` output (to float
    rounding in fp32) through the faster generator of `vocoder`. With a `LeadIn`
    it is decoded whole too, and when `first` (a reply's first pass: somebody is
    waiting for the first sound) its opening pause goes out ahead as a piece of
    its own. Deterministic: the vocoder noise is seeded with `NOISE_SEED` as in
    the whole pass.
    """
    if not 0 < len(token_ids) <= MAX_TOKENS:
        raise ValueError(f"segment of {len(token_ids)} tokens; expected 1..{MAX_TOKENS}")
    began = time.perf_counter()
    with torch.inference_mode():
        ids = torch.tensor([[0, *token_ids, 0]], dtype=torch.long, device=network.device)
        torch.manual_seed(NOISE_SEED)
        x, style_dec, har, pause = _front(network, ids, style.to(network.device), speed)
        _LOGGER.debug(
            "Text side: %d tokens -> %d frames in %.0f ms",
            len(token_ids),
            x.shape[-1],
            (time.perf_counter() - began) * 1000,
        )
        pause_point()  # the text side has drawn its random numbers: safe to interleave
    if isinstance(window, VocoderWindow):
        yield from _windows(network.decoder.generator, x, style_dec, har, window)
        return
    gen = network.decoder.generator
    lead = _lead_in(gen, x, style_dec, har, pause, window) if window and first else None
    if lead is not None:
        fade = window.crossfade * _frame_sizes(gen)[1]
        yield lead[: lead.numel() - fade]
    with torch.inference_mode():
        began = time.perf_counter()
        audio = generate(gen, x, har, Norms(style_dec))[0].float().cpu()
    _LOGGER.debug("Vocoder: whole pass in %.0f ms", (time.perf_counter() - began) * 1000)
    if lead is None:
        yield audio
        return
    # The join lies inside the pause: blend the lead-in's last samples into the pass's.
    join = lead.numel()
    if fade:
        yield torch.cat([_crossfade(lead[join - fade :], audio[join - fade : join]), audio[join:]])
    else:
        yield audio[join:]


def _frame_sizes(gen) -> tuple[int, int]:
    """(source spectrum columns, audio samples) per generator input frame."""
    har_per_frame = math.prod(m.stride[0] for m in gen.ups)
    return har_per_frame, har_per_frame * gen.stft.hop_length


def _crossfade(outgoing: torch.Tensor, incoming: torch.Tensor) -> torch.Tensor:
    """`outgoing` fading out while `incoming` (as long) fades in, linearly."""
    ramp = (torch.arange(outgoing.numel(), dtype=torch.float32) + 0.5) / outgoing.numel()
    return outgoing * (1 - ramp) + incoming * ramp


def _lead_in(
    gen, x: torch.Tensor, style: torch.Tensor, har: torch.Tensor, pause: int, lead_in: LeadIn
) -> torch.Tensor | None:
    """The quiet opening of the segment, decoded on its own (see the module docstring).

    Returns its samples (a whole number of frames, at most the pause), or None when
    the segment is mostly pause, longer than `max_frames`, or the quiet part is too
    short to be worth it.
    """
    frames = x.shape[-1]
    end = -(-(pause + lead_in.context) // lead_in.bucket) * lead_in.bucket
    if end >= frames or frames > lead_in.max_frames:
        return None
    began = time.perf_counter()
    har_per_frame, spf = _frame_sizes(gen)
    with torch.inference_mode():
        audio = generate(gen, x[..., :end], har[..., : end * har_per_frame + 1], Norms(style))
        audio = audio[0].float().cpu()
    loud = torch.nonzero(audio.abs() > 10 ** (lead_in.quiet_db / 20))
    onset = int(loud[0]) // spf if loud.numel() else end
    quiet = min(pause, onset - 2)  # two frames' margin before the first sound
    _LOGGER.debug(
        "Lead-in: %d of %d pause frames quiet, in %.0f ms",
        max(quiet, 0),
        pause,
        (time.perf_counter() - began) * 1000,
    )
    if quiet < lead_in.min_frames:
        return None
    return audio[: quiet * spf]


def _front(network, input_ids: torch.Tensor, ref_s: torch.Tensor, speed: float):
    """Everything before the generator's convolutions, for the whole segment.

    The text side (BERT, durations, alignment, F0 and energy, text encoder), the
    decoder's frame-rate blocks and the generator's source, as in kokoro's
    `KModel.forward_with_tokens` and `Decoder.forward`: returns the generator
    input x [1, C, N] (N frames), the decoder style, the source spectrum
    `har` [1, n_fft + 2, 60 N + 1] and the frames of the opening pause (the first
    pad token's duration).
    """
    length = input_ids.shape[-1]
    d_en = network.bert_encoder(network.bert(input_ids)).transpose(-1, -2)
    s = ref_s[:, 128:]
    predictor = network.predictor
    d = predictor.text_encoder(d_en, s)
    pred_dur = torch.round(predictor.durations(d, speed)).clamp(min=1).long().squeeze()
    indices = torch.repeat_interleave(torch.arange(length, device=input_ids.device), pred_dur)
    pred_aln_trg = torch.zeros((length, indices.shape[0]), device=input_ids.device)
    pred_aln_trg[indices, torch.arange(indices.shape[0])] = 1
    pred_aln_trg = pred_aln_trg.unsqueeze(0)
    f0_curve, n_curve = predictor.curves(d.transpose(-1, -2) @ pred_aln_trg, s)
    asr = network.text_encoder(input_ids) @ pred_aln_trg
    style_dec = ref_s[:, :128]

    decoder = network.decoder
    dtype = block_dtype(decoder)
    norms = Norms(style_dec)
    f0 = decoder.F0_conv(f0_curve.unsqueeze(1))
    n = decoder.N_conv(n_curve.unsqueeze(1))
    x = run_block(decoder.encode, torch.cat([asr, f0, n], axis=1), norms)
    skip = torch.cat([decoder.asr_res(asr), f0, n], axis=1).to(dtype)
    res = True
    for block in decoder.decode:
        if res:
            x = torch.cat([x, skip], axis=1)
        x = run_block(block, x, norms)
        if block.upsample_type != "none":
            res = False
    pause = int(pred_dur[0]) * (x.shape[-1] // int(pred_dur.sum()))  # predictor frames -> x's
    return x, style_dec, decoder.generator.source_spectrum(f0_curve), pause


def _probe_stats(gen, x, har, norms: Norms, window: VocoderWindow, har_per_frame: int) -> None:
    """Estimate the whole pass's AdaIN statistics from probes spread over the segment."""
    frames = x.shape[-1]
    size = window.probe
    count = max(2, round(frames / window.probe_every))
    step = (frames - size) / (count - 1)
    starts = [round(i * step) for i in range(count)]
    xs = torch.cat([x[..., a : a + size] for a in starts])
    hs = torch.cat([har[..., a * har_per_frame : (a + size) * har_per_frame + 1] for a in starts])
    norms.mode = "pool"
    generate(gen, xs, hs, norms)
    norms.mode = "fixed"


def window_cores(frames: int, window: VocoderWindow) -> list[tuple[int, int]]:
    """The [start, end) core frames of each window; they tile 0..frames."""
    cores = []
    start = 0
    size = window.first
    while start < frames:
        end = min(frames, start + size)
        # A last window much shorter than the context costs more than it saves.
        if 0 < frames - end < max(window.crossfade + 1, window.context // 2):
            end = frames
        cores.append((start, end))
        start = end
        size = window.later
    return cores


def _windows(
    gen, x: torch.Tensor, s: torch.Tensor, har: torch.Tensor, window: VocoderWindow
) -> Iterator[torch.Tensor]:
    """Run the generator window by window, yielding crossfaded float32 CPU pieces."""
    frames = x.shape[-1]
    har_per_frame, samples_per_frame = _frame_sizes(gen)
    fade = window.crossfade * samples_per_frame
    held: torch.Tensor | None = None  # the previous window's last `fade` samples
    cores = window_cores(frames, window)
    with torch.inference_mode():
        norms = Norms(s)
        if window.probe and len(cores) > 1:
            _probe_stats(gen, x, har, norms, window, har_per_frame)
    for index, (start, end) in enumerate(cores):
        last = index == len(cores) - 1
        lo = max(0, start - window.context)
        hi = min(frames, end + window.context)
        with torch.inference_mode():
            audio = (
                generate(
                    gen, x[..., lo:hi], har[..., lo * har_per_frame : hi * har_per_frame + 1], norms
                )[0]
                .float()
                .cpu()
            )
        # The join at `start` is blended over the `fade` samples before it: the
        # previous window's core end (`held`) with this window's left context.
        begin = (start - lo) * samples_per_frame
        stop = (end - lo) * samples_per_frame
        parts = []
        if held is not None:
            parts.append(_crossfade(held, audio[begin - fade : begin]))
        if last or not fade:
            parts.append(audio[begin:stop])
            held = None
        else:
            parts.append(audio[begin : stop - fade])
            held = audio[stop - fade : stop]
        yield torch.cat(parts) if len(parts) > 1 else parts[0].contiguous()
