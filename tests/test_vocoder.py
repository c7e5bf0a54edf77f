"""The faster generator (models/vocoder.py) and decoder blocks (models/decoder_blocks.py)
against kokoro's own, on the fixture weights.

fp32 must be kokoro's output to float rounding, for both generations; bf16 must
keep the length, stay within the measured log-mel distance and be heard right by
Whisper; `--precision auto` must pick bf16 only on a CPU with native bf16.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from wyoming_kokoro.config import load_settings
from wyoming_kokoro.errors import ConfigError
from wyoming_kokoro.models.decoder_blocks import block_dtype, run_block
from wyoming_kokoro.models.model import KokoroModel, ModelOptions
from wyoming_kokoro.models.segments import plan_segments
from wyoming_kokoro.models.streaming import synthesize_stream
from wyoming_kokoro.models.v0_19 import V019Build
from wyoming_kokoro.models.v1_0 import V10Build
from wyoming_kokoro.models.vocoder import Norms, cpu_flags, generator_dtype, precision_for

from .conftest import SHARED_KOKORO, run_python, transcribe
from .kokoro_reference import reference_audio, reference_network
from .test_streaming_vocoder import log_mel

TEXT = "Turn on the kitchen lights."
BF16_MEL_LIMIT_DB = 1.0
"""Measured bf16 against fp32 (v1.0, af_heart): 0.49 dB on this sentence, 0.68 dB on a
two-sentence reply, 0.75 dB on a 24-s paragraph; another noise seed alone moves the
fp32 pass by 0.29 dB."""


def _speak(folder: str, build, weights: Path, precision: str):
    model = KokoroModel.load(
        build,
        SHARED_KOKORO / folder / "config.json",
        weights,
        "cpu",
        ModelOptions(precision=precision),
    )
    pack = model.voice_pack(next((SHARED_KOKORO / folder / "voices").glob("af_*.pt")))
    (segment,) = plan_segments(TEXT, model.phonemizer("a"), model.symbols)
    style = pack[build.style_row(segment.phonemes, segment.token_ids)]
    return model, segment.token_ids, style


@pytest.mark.slow
@pytest.mark.parametrize("folder, build", [("v1_0", V10Build()), ("v0_19", V019Build())])
def test_fp32_generator_is_kokoros_to_float_rounding(folder, build, fixture_weights) -> None:
    model, ids, style = _speak(folder, build, fixture_weights[folder], "fp32")
    assert generator_dtype(model.network.decoder.generator) == torch.float32
    assert block_dtype(model.network.decoder) == torch.float32
    (ours,) = synthesize_stream(model.network, ids, style, 1.0, None)
    kokoro = reference_network(
        build, SHARED_KOKORO / folder / "config.json", fixture_weights[folder]
    )
    kokoros = reference_audio(kokoro, ids, style)  # kokoro's KModel, whole pass
    assert ours.shape == kokoros.shape and ours.dtype == torch.float32
    assert float((ours - kokoros).abs().max()) < 1e-4
    assert float(kokoros.abs().max()) > 0.05, "the fixture speaks audibly"


@pytest.mark.slow
def test_a_pass_paused_for_another_sentence_is_unchanged(fixture_weights) -> None:
    """The scheduler may run another request's first sentence at a pause point inside
    a pass (models/pausing.py): both must sound exactly as if run one after the other."""
    from wyoming_kokoro.models.pausing import set_pause_callback

    model, ids, style = _speak("v1_0", V10Build(), fixture_weights["v1_0"], "fp32")
    (other,) = plan_segments("Good morning, it is seven.", model.phonemizer("a"), model.symbols)
    (alone,) = synthesize_stream(model.network, ids, style, 1.0, None)
    (other_alone,) = synthesize_stream(model.network, other.token_ids, style, 1.0, None)
    nested: list[torch.Tensor] = []
    pauses = []

    def run_the_other() -> None:
        pauses.append(1)
        if len(pauses) == 5:  # somewhere in the middle of the vocoder
            nested.extend(synthesize_stream(model.network, other.token_ids, style, 1.0, None))

    set_pause_callback(run_the_other)
    try:
        (paused,) = synthesize_stream(model.network, ids, style, 1.0, None)
    finally:
        set_pause_callback(None)
    assert len(pauses) > 20 and len(nested) == 1
    assert torch.equal(paused, alone)
    assert torch.equal(nested[0], other_alone)


@pytest.mark.slow
def test_each_decoder_block_is_kokoros_in_fp32(fixture_weights) -> None:
    model, _, style = _speak("v1_0", V10Build(), fixture_weights["v1_0"], "fp32")
    kokoro = reference_network(
        V10Build(), SHARED_KOKORO / "v1_0" / "config.json", fixture_weights["v1_0"]
    )
    decoder = model.network.decoder
    style_dec = style[:, :128]
    generator = torch.Generator().manual_seed(3)
    ours_blocks = [decoder.encode, *decoder.decode]  # the last one upsamples (pool, shortcut)
    kokoro_blocks = [kokoro.decoder.encode, *kokoro.decoder.decode]
    for block, reference in zip(ours_blocks, kokoro_blocks, strict=True):
        x = torch.randn(1, block.conv1.in_channels, 37, generator=generator)
        with torch.inference_mode():
            ours = run_block(block, x, Norms(style_dec))
            kokoros = reference(x, style_dec)
        assert ours.shape == kokoros.shape
        assert float((ours - kokoros).abs().max()) < 1e-4 * float(kokoros.abs().max())
    assert decoder.decode[-1].upsample_type != "none"


@pytest.mark.slow
def test_bf16_generator_stays_close_and_intelligible(fixture_weights, transcriber) -> None:
    fp32, ids, style = _speak("v1_0", V10Build(), fixture_weights["v1_0"], "fp32")
    bf16, _, _ = _speak("v1_0", V10Build(), fixture_weights["v1_0"], "bf16")
    assert generator_dtype(bf16.network.decoder.generator) == torch.bfloat16
    assert block_dtype(bf16.network.decoder) == torch.bfloat16
    (reference,) = synthesize_stream(fp32.network, ids, style, 1.0, None)
    (audio,) = synthesize_stream(bf16.network, ids, style, 1.0, None)
    assert audio.dtype == torch.float32 and audio.shape == reference.shape
    distance = float((log_mel(audio) - log_mel(reference)).abs().mean())
    assert 0 < distance < BF16_MEL_LIMIT_DB, distance
    pcm = (np.clip(audio.numpy(), -1, 1) * 32767).astype(np.int16).tobytes()
    heard = transcribe(transcriber, pcm)
    assert "kitchen" in heard and "light" in heard, heard


def test_auto_precision_picks_bf16_only_with_native_instructions(monkeypatch) -> None:
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    avx2_box = frozenset({"fpu", "sse4_2", "avx", "avx2", "fma"})  # an N100's kind
    assert precision_for("auto", "cpu", avx2_box) == "fp32"
    assert precision_for("auto", "cpu", avx2_box | {"avx512f", "avx512_bf16"}) == "bf16"
    assert precision_for("auto", "cpu", avx2_box | {"amx_bf16", "amx_tile"}) == "bf16"
    assert precision_for("auto", "cpu", frozenset({"fp", "asimd", "bf16"})) == "fp32"  # Pi 5
    assert precision_for("auto", "cuda", avx2_box | {"avx512_bf16"}) == "fp32"
    assert precision_for("bf16", "cpu", avx2_box) == "bf16"
    assert precision_for("fp32", "cpu", avx2_box | {"avx512_bf16"}) == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        precision_for("fp16", "cpu", avx2_box)


def test_an_instruction_set_cap_below_bf16_means_fp32(monkeypatch) -> None:
    bf16_box = frozenset({"avx2", "avx512f", "avx512_bf16"})
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # as benchmarks/performance.py --avx2
    assert precision_for("auto", "cpu", bf16_box) == "fp32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_bf16")
    assert precision_for("auto", "cpu", bf16_box) == "bf16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert precision_for("auto", "cpu", bf16_box) == "bf16"


def test_cpu_flags_read_both_cpuinfo_spellings(tmp_path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\n"
        "flags\t\t: fpu vme avx2 avx512_bf16 amx_tile\nbugs\t\t: spectre_v1\n"
    )
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32\n")
    assert cpu_flags(x86) == {"fpu", "vme", "avx2", "avx512_bf16", "amx_tile"}
    assert cpu_flags(arm) == {"fp", "asimd", "evtstrm", "crc32"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_precision_setting_is_checked() -> None:
    assert load_settings({}, {}).precision == "auto"
    assert load_settings({"precision": "BF16"}, {}).precision == "bf16"
    with pytest.raises(ConfigError, match="precision"):
        load_settings({"precision": "fp16"}, {})


def test_primitive_cache_is_capped_unless_the_user_chose(monkeypatch) -> None:
    from wyoming_kokoro.memory import PRIMITIVE_CACHE_ENTRIES, cap_primitive_cache

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    cap_primitive_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == PRIMITIVE_CACHE_ENTRIES
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "1024")
    cap_primitive_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "1024"


@pytest.mark.slow
def test_one_pass_fits_twice_in_the_primitive_cache(fixture_weights, tmp_path) -> None:
    """A pass's oneDNN primitives, and a nested short pass's, stay cached under the cap.

    Counted in a real process with oneDNN's verbose log: the distinct primitives
    (kind, implementation, formats, shapes) executed by one v1.0 pass at the server's
    default precision. With a cap below that count every pass rebuilds its primitives
    (measured: 30 % slower), so the cap must hold two such passes.
    """
    from wyoming_kokoro.memory import PRIMITIVE_CACHE_ENTRIES

    script = f"""
import sys
from pathlib import Path
from wyoming_kokoro.models.model import KokoroModel, ModelOptions
from wyoming_kokoro.models.v1_0 import V10Build
from wyoming_kokoro.models.vocoder import precision_for
shared = Path({str(SHARED_KOKORO)!r}) / "v1_0"
weights = Path({str(fixture_weights["v1_0"])!r})
options = ModelOptions(precision=precision_for("auto", "cpu"))
model = KokoroModel.load(V10Build(), shared / "config.json", weights, "cpu", options)
speak = lambda: model.render({TEXT!r}, "a", shared / "voices" / "af_heart.pt", 1.0)
speak()
print("PASS BEGINS", flush=True)
speak()
"""
    output = run_python(script, tmp_path, env={"ONEDNN_VERBOSE": "1"})
    log = output.split("PASS BEGINS", 1)[1].splitlines()
    executed = [line.rsplit(",", 1)[0] for line in log if ",primitive,exec," in line]
    assert len(executed) > 50, "oneDNN logged the pass"
    distinct = len(set(executed))
    assert distinct <= int(PRIMITIVE_CACHE_ENTRIES) // 2, f"{distinct} primitives in a pass"


@pytest.mark.parametrize(
    "shape, chunked",
    [
        ((1, 128, 45480), True),
        ((1, 256, 7581), True),
        ((3, 128, 5000), True),
        ((1, 64, 100), False),
    ],
)
def test_statistics_taken_a_few_channels_at_a_time_are_the_same(shape, chunked) -> None:
    """bf16 activations' statistics, converted to float32 in channel chunks to bound the
    copies, equal torch's whole-tensor reductions bit for bit, pooled or not."""
    from wyoming_kokoro.models.vocoder import STATS_CHUNK_BYTES, _channel_sums

    generator = torch.Generator().manual_seed(1)
    x = (torch.randn(*shape, generator=generator) * 3 + 0.5).to(torch.bfloat16)
    for dims in ((2,), (0, 2)):
        mean, root = _channel_sums(x, dims)
        assert torch.equal(mean, torch.mean(x, dim=dims, keepdim=True, dtype=torch.float32))
        assert torch.equal(
            root, torch.linalg.vector_norm(x, dim=dims, keepdim=True, dtype=torch.float32)
        )
        assert mean.shape == (1 if 0 in dims else shape[0], shape[1], 1)
    assert (x.numel() * 4 > STATS_CHUNK_BYTES) == chunked


@pytest.mark.parametrize("kernel, dilation", [(3, 1), (7, 3), (11, 5)])
def test_a_residual_convolution_over_time_slices_is_the_whole_one(monkeypatch, kernel, dilation):
    """AdaIN + Snake + convolution taken a slice of time at a time (with the samples
    the convolution reaches on either side, zeros past the ends) equals the whole-tensor
    computation; the slices are forced small so that there are several, ends included."""
    from wyoming_kokoro.models import vocoder

    torch.manual_seed(3)
    conv = torch.nn.Conv1d(16, 16, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
    adain = type("AdaIN", (), {})()
    adain.fc = torch.nn.Linear(8, 32)
    adain.norm = torch.nn.InstanceNorm1d(16, affine=True)
    alpha = torch.rand(1, 16, 1) + 0.5
    x = torch.randn(1, 16, 1000)
    style = torch.randn(1, 8)
    with torch.inference_mode():
        k, b = vocoder.Norms(style).folded(adain, x)
        whole = conv(vocoder._snake(x, k, b, alpha))
        monkeypatch.setattr(vocoder, "CONV_SLICE_BYTES", 16 * 4 * 256)  # 256 samples a slice
        monkeypatch.setattr(vocoder, "SLICE_FROM_BYTES", 16 * 4 * 500)
        sliced = vocoder.adain_snake_conv(x, adain, alpha, vocoder.Norms(style), conv)
    assert sliced.shape == whole.shape
    torch.testing.assert_close(sliced, whole, rtol=1e-5, atol=1e-6)


LONG_SENTENCE = (
    "The heating is set to twenty degrees in the living room and eighteen in the "
    "bedrooms, and the garden sprinklers will run at six, unless it rains overnight."
)


def test_a_long_pass_gives_memory_back_as_it_goes(fixture_weights, monkeypatch) -> None:
    """A long sentence's pass returns freed memory to the system between its stages and
    residual blocks, a short one's does not (its first audio is waited for), and the
    audio is the same either way.

    What it saves is a figure of the server's peak memory, so it is measured in
    benchmarks/performance.py; here, that the pass does it, and harmlessly.
    """
    from wyoming_kokoro.models import vocoder

    model, _, _ = _speak("v1_0", V10Build(), fixture_weights["v1_0"], "fp32")
    voice = SHARED_KOKORO / "v1_0" / "voices" / "af_heart.pt"
    trims: list[int] = []
    monkeypatch.setattr(vocoder, "release_free_memory", lambda: trims.append(1))
    audio, trim_counts = {}, {}
    for name, text in (("short", TEXT), ("long", LONG_SENTENCE)):
        trims.clear()
        audio[name] = model.render(text, "a", voice, 1.0)
        trim_counts[name] = len(trims)
    assert trim_counts["short"] == 0
    generator = model.network.decoder.generator
    per_stage = 2 + generator.num_kernels  # as it begins, after the source's block, each kernel's
    assert trim_counts["long"] == generator.num_upsamples * per_stage == 10
    assert audio["long"].size > 8 * 24000, "a sentence of 8 s and more"

    monkeypatch.setattr(vocoder, "TRIM_FROM_FRAMES", 1 << 40)
    trims.clear()
    assert np.array_equal(model.render(LONG_SENTENCE, "a", voice, 1.0), audio["long"])
    assert not trims
