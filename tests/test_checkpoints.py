"""Checkpoints in the official layout load; anything else that does not fit is refused.

The fixture files from ../shared/tools/test_weights.py have hexgrad's layout: every key
of every module carries DataParallel's `module.` prefix and BERT holds the old
`embeddings.position_ids` buffer. Each broken variant below is made from those real
files, so the tests exercise the real key names and shapes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch

from wyoming_kokoro.errors import ModelLoadError
from wyoming_kokoro.models.build import VersionBuild
from wyoming_kokoro.models.model import KokoroModel
from wyoming_kokoro.models.network import MODULE_NAMES, KokoroNetwork
from wyoming_kokoro.models.segments import plan_segments
from wyoming_kokoro.models.streaming import synthesize_stream
from wyoming_kokoro.models.v0_19 import V019Build
from wyoming_kokoro.models.v1_0 import V10Build

from .conftest import SHARED_KOKORO, run_python

BUILDS: dict[str, VersionBuild] = {"v1_0": V10Build(), "v0_19": V019Build()}


def read_states(build: VersionBuild, path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """{module: state} as the build reads it from the file (prefixes still on)."""
    return {name: dict(state) for name, state in build.read_checkpoint(path).items()}


@pytest.fixture(scope="module")
def v1_states(fixture_weights) -> dict[str, dict[str, torch.Tensor]]:
    return read_states(BUILDS["v1_0"], fixture_weights["v1_0"])


@pytest.fixture(scope="module")
def v1_network() -> KokoroNetwork:
    build = BUILDS["v1_0"]
    raw = json.loads((SHARED_KOKORO / "v1_0" / "config.json").read_text(encoding="utf-8"))
    return KokoroNetwork(build.network_config(raw))


def load_error(network: KokoroNetwork, states: Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    with pytest.raises(ModelLoadError) as caught:
        network.load_modules(states, "/models/kokoro-v1_0.pth")
    return str(caught.value)


@pytest.mark.parametrize("folder", ["v1_0", "v0_19"])
def test_official_layout_loads_every_tensor_and_speaks(fixture_weights, folder: str) -> None:
    build = BUILDS[folder]
    states = read_states(build, fixture_weights[folder])
    # The fixture really has the official quirks this loader must accept.
    assert all(key.startswith("module.") for state in states.values() for key in state)
    assert "module.embeddings.position_ids" in states["bert"]

    config = SHARED_KOKORO / folder / "config.json"
    network = KokoroNetwork(build.network_config(json.loads(config.read_text(encoding="utf-8"))))
    network.load_modules(read_states(build, fixture_weights[folder]), "official.pth")
    loaded = {name: getattr(network, name).state_dict() for name in MODULE_NAMES}
    for name, state in states.items():
        for key, tensor in state.items():
            bare = key.removeprefix("module.")
            if bare in loaded[name]:
                assert torch.equal(loaded[name][bare], tensor), (name, bare)
            else:
                assert (name, bare) == ("bert", "embeddings.position_ids")

    # Loading for inference also folds weight norm into plain weights: same audio, less work.
    model = KokoroModel.load(build, config, fixture_weights[folder], "cpu")
    folded = model.network.decoder.state_dict()
    assert not any(key.endswith(("weight_g", "weight_v")) for key in folded)
    assert any(key.endswith("weight_g") for key in network.decoder.state_dict())
    pack = next((SHARED_KOKORO / folder / "voices").glob("af_*.pt"))
    audio = model.render("Hello there.", "a", pack, 1.0)
    assert audio.size > 24000 * 0.4, "speech-length audio from the loaded weights"
    network.eval()
    g2p = model.phonemizer("a")  # the same pass through the unfolded network
    segment = plan_segments("Hello there.", g2p, model.symbols)[0]
    style = torch.load(pack, map_location="cpu", weights_only=True)
    style = style[build.style_row(segment.phonemes, segment.token_ids)]
    (unfolded,) = synthesize_stream(network, segment.token_ids, style, 1.0, None)
    (folded_audio,) = synthesize_stream(model.network, segment.token_ids, style, 1.0, None)
    assert torch.allclose(folded_audio, unfolded, atol=1e-5)


def test_bare_keys_load_too(v1_network, v1_states) -> None:
    """A checkpoint re-saved without DataParallel (e.g. by a converter) is just as good."""
    bare = {
        name: {key.removeprefix("module."): value for key, value in state.items()}
        for name, state in v1_states.items()
    }
    v1_network.load_modules(bare, "re-saved.pth")


def test_missing_tensor_is_named_with_module_and_file(v1_network, v1_states) -> None:
    states = copy.copy(v1_states)
    states["decoder"] = dict(states["decoder"])
    del states["decoder"]["module.generator.conv_post.weight_v"]
    message = load_error(v1_network, states)
    assert message.startswith("/models/kokoro-v1_0.pth: module 'decoder'")
    assert "missing 1 tensor(s): generator.conv_post.weight_v" in message


def test_unexpected_tensor_is_refused(v1_network, v1_states) -> None:
    states = copy.copy(v1_states)
    states["predictor"] = {**states["predictor"], "module.extra.weight": torch.zeros(3)}
    message = load_error(v1_network, states)
    assert "module 'predictor'" in message
    assert "unexpected 1 tensor(s): extra.weight" in message


def test_position_ids_is_accepted_only_where_bert_had_it(v1_network, v1_states) -> None:
    states = copy.copy(v1_states)
    states["decoder"] = {
        **states["decoder"],
        "module.embeddings.position_ids": states["bert"]["module.embeddings.position_ids"],
    }
    message = load_error(v1_network, states)
    assert "module 'decoder'" in message and "embeddings.position_ids" in message


def test_mixed_prefixed_and_bare_keys_are_refused(v1_network, v1_states) -> None:
    states = copy.copy(v1_states)
    mixed = dict(states["bert_encoder"])
    mixed["bias"] = mixed.pop("module.bias")
    states["bert_encoder"] = mixed
    message = load_error(v1_network, states)
    assert "module 'bert_encoder' mixes keys with and without the 'module.' prefix" in message
    assert "module.weight" in message and "bias" in message


def test_wrong_shape_is_named_with_both_shapes(v1_network, v1_states) -> None:
    states = copy.copy(v1_states)
    states["bert_encoder"] = {**states["bert_encoder"], "module.bias": torch.zeros(7)}
    message = load_error(v1_network, states)
    assert "1 tensor(s) of the wrong shape: bias [7] (network: [512])" in message


def test_many_missing_keys_are_summarised(v1_network, v1_states) -> None:
    states = copy.copy(v1_states)
    states["text_encoder"] = {}
    message = load_error(v1_network, states)
    count = len(v1_states["text_encoder"])
    assert f"missing {count} tensor(s)" in message and f"and {count - 3} more" in message


def test_broken_file_is_refused_through_the_model_loader(fixture_weights, tmp_path) -> None:
    """The whole path a user hits: KokoroModel.load of a file lacking one tensor."""
    checkpoint = torch.load(fixture_weights["v0_19"], map_location="cpu", weights_only=True)
    del checkpoint["net"]["bert"]["module.encoder.embedding_hidden_mapping_in.weight"]
    broken = tmp_path / "kokoro-v0_19.pth"
    torch.save(checkpoint, broken)
    with pytest.raises(ModelLoadError) as caught:
        KokoroModel.load(BUILDS["v0_19"], SHARED_KOKORO / "v0_19" / "config.json", broken, "cpu")
    message = str(caught.value)
    assert message.startswith(f"{broken}: module 'bert' does not fit the Kokoro network")
    assert "encoder.embedding_hidden_mapping_in.weight" in message


LOAD_PEAK_SCRIPT = """
import sys
from pathlib import Path

from wyoming_kokoro.models.model import KokoroModel
from wyoming_kokoro.models.v1_0 import V10Build


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024


before = status("VmHWM")
model = KokoroModel.load(V10Build(), Path(sys.argv[1]), Path(sys.argv[2]), "cpu")
print(status("VmHWM") - before)
"""


@pytest.mark.slow
def test_loading_holds_the_weights_once(fixture_weights) -> None:
    """The peak memory of a load is about one copy of the file, not two (no random
    twin to copy into, weight norm folded one layer at a time): was 2.7x, now 1.1x."""
    import subprocess
    import sys

    weights = fixture_weights["v1_0"]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_PEAK_SCRIPT,
            str(SHARED_KOKORO / "v1_0" / "config.json"),
            str(weights),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    growth = int(out.split()[-1])
    assert growth < 1.4 * weights.stat().st_size, (growth, weights.stat().st_size)


IMPORTS_SCRIPT = """
import sys
from pathlib import Path

from wyoming_kokoro.models.model import KokoroModel
from wyoming_kokoro.models.{module} import {build}

model = KokoroModel.load({build}(), Path({config!r}), Path({weights!r}), "cpu")
audio = model.render("Hello there.", "a", Path({pack!r}), 1.0)
print(audio.size, sorted(name for name in {unused!r} if name in sys.modules))
"""

UNUSED_AT_RUN_TIME = (
    "torch._dynamo",
    "torch.fx.experimental.symbolic_shapes",
    "sympy",
    "kokoro",
)
"""Modules a served model never needs: torch's compiler stack (torch._dynamo pulls in
fx's symbolic shapes and sympy: 73 MiB resident, measured at load) and the reference
package. (Not transformers: spaCy imports it through spacy-curated-transformers where
that plugin is installed, as the test extras have it.)"""


@pytest.mark.parametrize(("folder", "build"), [("v1_0", "V10Build"), ("v0_19", "V019Build")])
def test_a_served_model_imports_no_compiler_stack(fixture_weights, folder, build) -> None:
    """Building the network on the meta device used to run torch's Python reference
    kernels for the random initialisers and weight norm, and they import torch._dynamo."""
    pack = next((SHARED_KOKORO / folder / "voices").glob("af_*.pt"))
    script = IMPORTS_SCRIPT.format(
        module=folder,  # the build's module is named as its data folder
        build=build,
        config=str(SHARED_KOKORO / folder / "config.json"),
        weights=str(fixture_weights[folder]),
        pack=str(pack),
        unused=UNUSED_AT_RUN_TIME,
    )
    size, unused = run_python(script, cwd=Path(__file__).parent).split(" ", 1)
    assert int(size) > 24000 * 0.4, "the model spoke"
    assert unused.strip() == "[]"
