"""Security: names never become paths, files load as tensors only, binding is as told.

A voice name arrives from anyone on the LAN; it is only ever a key into the known
voices, so `../`, absolute paths and NUL bytes are unknown voices, never file
lookups. Every `.pt` loads with `weights_only=True`, so a pickle that would run code
is refused. The server listens only on the address it was given.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
from pathlib import Path

import pytest
import torch
import yaml

from wyoming_kokoro.models.v0_19 import V019Build
from wyoming_kokoro.models.v1_0 import V10Build
from wyoming_kokoro.models.voices import VoiceRegistry

from .conftest import ROOT, SHARED_KOKORO, ServerProcess, describe, synthesize

HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "af_heart\x00.pt",
    "voices/af_heart",
    "af_heart.pt",
    "../v0_19/voices/af_bella@v0.19",
    "af_heart@../../v1.0",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_path_like_voice_names_are_unknown_voices(server: ServerProcess, name: str) -> None:
    reply = asyncio.run(synthesize(server.uri, "Hello.", name))
    assert reply.error is not None and reply.error.startswith("unknown voice"), reply.error
    assert not reply.audio


class RunsCode:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_voice_pack_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    voices = tmp_path / "data" / "v1_0" / "voices"
    voices.mkdir(parents=True)
    with open(voices / "af_evil.pt", "wb") as handle:
        pickle.dump(RunsCode(marker), handle)
    torch.save(torch.zeros(510, 1, 256), voices / "af_fine.pt")
    registry = VoiceRegistry(
        {"v1.0": V10Build(), "v0.19": V019Build()}, [tmp_path / "data"], "v1.0"
    )
    names = {voice.name for voice in registry.all()}
    assert "af_fine" in names, "the harmless pack is served"
    assert "af_evil" not in names and not marker.exists()


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    from wyoming_kokoro.errors import ModelLoadError

    marker = tmp_path / "code-ran"
    checkpoint = tmp_path / "kokoro-v1_0.pth"
    torch.save({"bert": RunsCode(marker)}, checkpoint)
    with pytest.raises(ModelLoadError, match=r"not a readable v1\.0 checkpoint"):
        V10Build().read_checkpoint(checkpoint)
    assert not marker.exists()


def test_server_listens_only_on_the_address_it_was_given(server: ServerProcess) -> None:
    assert asyncio.run(describe(server.uri)).tts  # bound to 127.0.0.1 by the fixture
    with socket.socket() as probe:  # 127.0.0.2 is loopback too, but not what we bound
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.2", server.port)) != 0


def test_addon_asks_for_no_extra_privileges() -> None:
    manifest = yaml.safe_load((ROOT / "addon" / "config.yaml").read_text(encoding="utf-8"))
    risky = {
        "privileged",
        "full_access",
        "host_network",
        "host_pid",
        "host_ipc",
        "host_dbus",
        "devices",
        "docker_api",
        "hassio_api",
        "homeassistant_api",
        "auth_api",
        "kernel_modules",
        "usb",
        "uart",
        "gpio",
        "video",
        "audio",
    }
    assert risky.isdisjoint(manifest), sorted(risky & set(manifest))
    assert manifest.get("apparmor", True) is not False
    assert manifest.get("hassio_role", "default") == "default"
    for entry in manifest.get("map", []):
        if entry.get("type") == "share":
            assert entry.get("read_only") is True


def test_every_torch_load_in_the_package_is_weights_only() -> None:
    sources = (ROOT / "wyoming_kokoro").rglob("*.py")
    calls = [
        (path.name, line.strip())
        for path in sources
        for line in path.read_text(encoding="utf-8").splitlines()
        if "torch.load(" in line
    ]
    assert calls, "the loaders were found"
    assert all("weights_only=True" in line for _, line in calls), calls


def test_shared_fixture_packs_are_plain_tensors() -> None:
    """The fixtures themselves load under the same rule the server applies."""
    pack = torch.load(SHARED_KOKORO / "v1_0/voices/af_heart.pt", weights_only=True)
    assert isinstance(pack, torch.Tensor)
