"""Our Kokoro module definitions (models/albert.py, prosody.py, istftnet.py) against kokoro's.

The server runs its own definitions so that serving needs neither the `kokoro`
package nor `transformers` (measured: 110 MiB and 3 s of start-up for their
import). They must be the same network: the same tensors under the same names,
and a text side that gives kokoro's numbers bit for bit (BERT, durations, the F0
and energy curves, the text encoder), for both generations. The whole pass is
compared with kokoro's in test_vocoder.py and test_streaming_vocoder.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from wyoming_kokoro.models.model import KokoroModel
from wyoming_kokoro.models.network import MODULE_NAMES, KokoroNetwork
from wyoming_kokoro.models.segments import plan_segments
from wyoming_kokoro.models.v0_19 import V019Build
from wyoming_kokoro.models.v1_0 import V10Build

from .conftest import SHARED_KOKORO, run_python
from .kokoro_reference import reference_network

pytestmark = pytest.mark.slow

GENERATIONS = [("v1_0", V10Build()), ("v0_19", V019Build())]
TEXT = "You have three meetings today, the first one starts at nine thirty."


@pytest.fixture(scope="module", params=GENERATIONS, ids=[g[0] for g in GENERATIONS])
def pair(request, fixture_weights):
    """(our fp32 model, kokoro's KModel, token ids, style) on one generation's fixture."""
    folder, build = request.param
    config = SHARED_KOKORO / folder / "config.json"
    ours = KokoroModel.load(build, config, fixture_weights[folder], "cpu")
    kokoro = reference_network(build, config, fixture_weights[folder])
    pack = ours.voice_pack(next((SHARED_KOKORO / folder / "voices").glob("af_*.pt")))
    (segment,) = plan_segments(TEXT, ours.phonemizer("a"), ours.symbols)
    style = pack[build.style_row(segment.phonemes, segment.token_ids)]
    return ours, kokoro, segment.token_ids, style


@pytest.mark.parametrize("folder, build", GENERATIONS, ids=[g[0] for g in GENERATIONS])
def test_every_tensor_has_kokoros_name_and_shape(folder, build, fixture_weights) -> None:
    config = SHARED_KOKORO / folder / "config.json"
    ours = KokoroNetwork(build.network_config(json.loads(config.read_text(encoding="utf-8"))))
    kokoro = reference_network(build, config, fixture_weights[folder])
    for name in MODULE_NAMES:
        mine = {key: value.shape for key, value in getattr(ours, name).state_dict().items()}
        theirs = {key: value.shape for key, value in getattr(kokoro, name).state_dict().items()}
        assert mine == theirs, name


def test_the_text_side_is_kokoros_bit_for_bit(pair) -> None:
    ours, kokoro, token_ids, style = pair
    net = ours.network
    ids = torch.tensor([[0, *token_ids, 0]])
    length = ids.shape[-1]
    lengths = torch.tensor([length])
    no_padding = torch.zeros(1, length, dtype=torch.bool)
    prosody_style = style[:, 128:]
    with torch.inference_mode():
        bert = kokoro.bert(ids, attention_mask=torch.ones(1, length, dtype=torch.int))
        assert torch.equal(net.bert(ids), bert)

        features = kokoro.bert_encoder(bert).transpose(-1, -2)
        encoded = kokoro.predictor.text_encoder(features, prosody_style, lengths, no_padding)
        assert torch.equal(net.predictor.text_encoder(features, prosody_style), encoded)

        hidden, _ = kokoro.predictor.lstm(encoded)
        durations = torch.sigmoid(kokoro.predictor.duration_proj(hidden)).sum(dim=-1)
        assert torch.equal(net.predictor.durations(encoded, 1.0), durations)

        frames = torch.round(durations).clamp(min=1).long().squeeze()
        aligned = torch.repeat_interleave(encoded.transpose(-1, -2), frames, dim=-1)
        f0, energy = kokoro.predictor.F0Ntrain(aligned, prosody_style)
        our_f0, our_energy = net.predictor.curves(aligned, prosody_style)
        assert torch.equal(our_f0, f0) and torch.equal(our_energy, energy)
        assert float(f0.max()) > 50, "a voiced pitch curve"

        text = kokoro.text_encoder(ids, lengths, no_padding)
        assert torch.equal(net.text_encoder(ids), text)

        torch.manual_seed(7)
        generator = kokoro.decoder.generator
        upsampled = generator.f0_upsamp(f0[:, None]).transpose(1, 2)
        excitation = generator.m_source(upsampled)[0].transpose(1, 2).squeeze(1)
        spectrum = torch.cat(generator.stft.transform(excitation), dim=1)
        torch.manual_seed(7)
        assert torch.equal(net.decoder.generator.source_spectrum(f0), spectrum)


def test_a_model_runs_without_importing_kokoro_or_transformers(fixture_weights, tmp_path) -> None:
    """A real process that loads v1.0 and speaks, then lists what it imported.

    Spanish, because spaCy (English G2P only) imports every installed spaCy plugin
    when it builds a pipeline, and this test environment has kokoro (the reference),
    whose misaki[en] installs one that imports `transformers`; a user install has
    neither (tests/test_installed.py).
    """
    script = f"""
import sys
from pathlib import Path
from wyoming_kokoro.models.model import KokoroModel
from wyoming_kokoro.models.v1_0 import V10Build
import wyoming_kokoro.server
shared = Path({str(SHARED_KOKORO)!r}) / "v1_0"
weights = Path({str(fixture_weights["v1_0"])!r})
model = KokoroModel.load(V10Build(), shared / "config.json", weights, "cpu")
audio = model.render("Hola, buenos días.", "e", shared / "voices" / "ef_dora.pt", 1.0)
print(audio.size, *sorted(m for m in ("kokoro", "transformers") if m in sys.modules))
"""
    samples, *imported = run_python(script, tmp_path).split()
    assert int(samples) > 24000 * 0.4, "speech-length audio"
    assert imported == []


def test_lstm_weights_are_laid_out_as_the_lstms_read_them(pair) -> None:
    """oneDNN's LSTM copies non-contiguous weights on every call (the fixture stores them
    transposed); the loaded model holds them contiguous, and the text side above stays
    kokoro's bit for bit."""
    ours, _, _, _ = pair
    lstms = [m for m in ours.network.modules() if isinstance(m, torch.nn.LSTM)]
    assert len(lstms) == 6
    assert all(w.is_contiguous() for m in lstms for w in m.parameters())
