"""The lead-in (models/streaming.py, the default `--vocoder-window`) on the real fixture weights.

A reply's first pass sends the quiet opening pause ahead, and then the whole
pass's audio: what a player hears is the whole pass's length, the words are the
whole pass's samples exactly, and what went ahead is the pause, quiet. Both
generations, in the server's own precision (bf16 where the CPU has it). The
default ("auto") leads in only where the generator is fast enough for it to pay,
and a reply's bytes never depend on what else is queued.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import torch

from wyoming_kokoro.cli import parse_settings
from wyoming_kokoro.models.model import KokoroModel, ModelOptions
from wyoming_kokoro.models.segments import plan_segments
from wyoming_kokoro.models.streaming import (
    DEFAULT_WINDOW,
    LEAD_IN,
    VOCODER_MODES,
    LeadIn,
    for_generator,
    synthesize_stream,
)
from wyoming_kokoro.models.v0_19 import V019Build
from wyoming_kokoro.models.v1_0 import V10Build
from wyoming_kokoro.models.vocoder import precision_for

from .conftest import SHARED_KOKORO, server_args

pytestmark = pytest.mark.slow

SAMPLES_PER_FRAME = 300
WORDS_LEVEL = 0.01
"""-40 dBFS: the first sample this loud is where the words begin."""


@pytest.fixture(scope="module", params=[("v1_0", V10Build()), ("v0_19", V019Build())])
def generation(request, fixture_weights):
    folder, build = request.param
    model = KokoroModel.load(
        build,
        SHARED_KOKORO / folder / "config.json",
        fixture_weights[folder],
        "cpu",
        ModelOptions(vocoder_window=LEAD_IN, precision=precision_for("auto", "cpu")),
    )
    return model, next((SHARED_KOKORO / folder / "voices").glob("af_*.pt"))


def _segment(model, pack_path, text: str):
    pack = model.voice_pack(pack_path)
    (segment,) = plan_segments(text, model.phonemizer("a"), model.symbols)
    return segment.token_ids, pack[model.build.style_row(segment.phonemes, segment.token_ids)]


@pytest.mark.parametrize("text", ["Turn on the kitchen lights.", "Good morning!", "Sure."])
def test_the_opening_pause_goes_ahead_and_the_words_are_the_whole_pass(generation, text) -> None:
    model, pack_path = generation
    ids, style = _segment(model, pack_path, text)
    (whole,) = synthesize_stream(model.network, ids, style, 1.0, None)
    pieces = list(synthesize_stream(model.network, ids, style, 1.0, LEAD_IN, first=True))
    assert len(pieces) == 2, "the pause, then the rest"
    ahead, rest = pieces
    assert all(p.dtype == torch.float32 and p.dim() == 1 for p in pieces)
    assert torch.cat(pieces).shape == whole.shape
    # What goes ahead is at least 100 ms of the pause, and quiet.
    assert ahead.numel() >= LEAD_IN.min_frames * SAMPLES_PER_FRAME - 2 * SAMPLES_PER_FRAME
    assert float(ahead.abs().max()) < 10 ** (LEAD_IN.quiet_db / 20)
    # The words begin after it, and from the end of the crossfade on they are the
    # whole pass's samples exactly.
    words = int(torch.nonzero(whole.abs() >= WORDS_LEVEL)[0])
    fade = LEAD_IN.crossfade * SAMPLES_PER_FRAME
    join = ahead.numel() + fade
    assert join < words
    assert torch.equal(rest[fade:], whole[join:])
    # Within the crossfade both sides are pause: nothing there is loud.
    assert float(rest[:fade].abs().max()) < 10 ** (LEAD_IN.quiet_db / 20)


def test_only_a_replys_first_pass_sends_a_lead_in(generation) -> None:
    model, pack_path = generation
    ids, style = _segment(model, pack_path, "Turn on the kitchen lights.")
    (whole,) = synthesize_stream(model.network, ids, style, 1.0, None)
    (later,) = synthesize_stream(model.network, ids, style, 1.0, LEAD_IN, first=False)
    assert torch.equal(later, whole)


@pytest.mark.parametrize("too", ["mostly pause", "long"])
def test_a_sentence_that_is_mostly_pause_or_long_goes_whole(generation, too) -> None:
    model, pack_path = generation
    ids, style = _segment(model, pack_path, "Sure.")
    (whole,) = synthesize_stream(model.network, ids, style, 1.0, None)
    frames = whole.numel() // SAMPLES_PER_FRAME
    lead_in = LeadIn(context=frames) if too == "mostly pause" else LeadIn(max_frames=frames - 1)
    (piece,) = synthesize_stream(model.network, ids, style, 1.0, lead_in, first=True)
    assert torch.equal(piece, whole)
    # ... while the default lead-in does go ahead on this sentence.
    assert len(list(synthesize_stream(model.network, ids, style, 1.0, LEAD_IN, first=True))) == 2


def test_a_reply_opens_with_the_lead_in_and_says_its_words(generation) -> None:
    """Through `render_pieces`, as the server calls it: only the reply's first pass leads."""
    model, pack_path = generation
    # A first pass of 510 tokens, longer than the default lead-in's `max_frames`.
    long_lead_in = LeadIn(max_frames=10_000)
    model = KokoroModel(
        model.build, model.network, model.symbols, ModelOptions(vocoder_window=long_lead_in)
    )
    text = "Turn on the kitchen lights. " * 21  # more than one pass (510 tokens)
    reply = list(model.render_pieces(text, "a", pack_path, 1.0, opens_reply=True))
    plain = list(model.render_pieces(text, "a", pack_path, 1.0))
    assert len(plain) >= 2, "the text is cut into several passes"
    assert len(reply) == len(plain) + 1
    assert reply[0].dtype == plain[0].dtype
    assert sum(p.size for p in reply) == sum(p.size for p in plain)
    assert abs(reply[0].astype(int)).max() < 32767 * 10 ** (long_lead_in.quiet_db / 20), "quiet"
    assert all((a == b).all() for a, b in zip(reply[2:], plain[1:], strict=True))


@pytest.mark.parametrize(
    "settings",
    [{"context": 0}, {"bucket": 0}, {"crossfade": 8}, {"crossfade": -1}, {"max_frames": 0}],
)
def test_bad_lead_ins_are_refused(settings) -> None:
    with pytest.raises(ValueError):
        LeadIn(**settings)


def test_the_automatic_lead_in_is_kept_only_where_the_generator_is_fast() -> None:
    auto, forced = VOCODER_MODES["auto"], VOCODER_MODES["lead-in"]
    assert isinstance(auto, LeadIn) and not auto.always and forced.always
    assert for_generator(auto, "cpu", "fp32") is None, "AVX2 boxes, a Raspberry Pi"
    assert for_generator(auto, "cpu", "bf16") is auto
    assert for_generator(auto, "cuda", "fp32") is auto
    assert for_generator(forced, "cpu", "fp32") is forced, "asked for: always"
    assert for_generator(None, "cpu", "bf16") is None
    assert for_generator(DEFAULT_WINDOW, "cpu", "fp32") is DEFAULT_WINDOW


def test_an_fp32_model_with_the_automatic_lead_in_sends_each_pass_whole(fixture_weights) -> None:
    folder = "v1_0"
    options = ModelOptions(vocoder_window=VOCODER_MODES["auto"], precision="fp32")
    model = KokoroModel.load(
        V10Build(), SHARED_KOKORO / folder / "config.json", fixture_weights[folder], "cpu", options
    )
    assert model.options.vocoder_window is None
    pack_path = SHARED_KOKORO / folder / "voices" / "af_heart.pt"
    (whole,) = model.render_pieces(
        "Turn on the kitchen lights.", "a", pack_path, 1.0, opens_reply=True
    )
    assert whole.size > 24_000 // 2, "the whole sentence in one piece"


def test_a_queued_reply_leads_in_exactly_like_one_served_alone(weights_dir) -> None:
    """Two requests queued behind a busy inference thread: each sends the same pieces,
    byte for byte, as the same request served alone; load changes when, never what."""
    from wyoming_kokoro.server import make_engine  # imports torch: only here

    engine = make_engine(
        parse_settings(server_args(weights_dir, "--vocoder-window", "lead-in"), {})
    )
    text = "Turn on the kitchen lights."

    async def pieces(audio) -> list:
        return [pcm async for pcm in audio]

    async def scenario() -> tuple[list, list, list]:
        await engine.warm_up()
        selection = engine.select("af_heart")
        style = await engine.prepare_selection(selection)
        alone = await pieces(engine.submit("C", selection, style, text, new_request=True))
        gate = threading.Event()
        busy = engine.scheduler.submit("B", "v1.0", lambda cancelled: gate.wait(30))
        await asyncio.sleep(0.1)  # the inference thread is held: both requests queue
        first = engine.submit("A", selection, style, text, new_request=True)
        second = engine.submit("D", selection, style, text, new_request=True)
        gate.set()
        await busy
        return alone, await pieces(first), await pieces(second)

    try:
        alone, served_first, served_second = asyncio.run(scenario())
    finally:
        engine.close()
    assert len(alone) == 2, "a reply leads in: the pause, then the whole pass"
    assert alone[0].size < alone[1].size
    for queued in (served_first, served_second):
        assert [pcm.size for pcm in queued] == [pcm.size for pcm in alone]
        assert all(np.array_equal(a, b) for a, b in zip(queued, alone, strict=True))
