"""The model manager: lazy shared loads, strict checkpoints, safe unloading."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from wyoming_kokoro.errors import ModelBusyError, ModelLoadError
from wyoming_kokoro.models.manager import ModelManager
from wyoming_kokoro.models.model import KokoroModel
from wyoming_kokoro.models.v0_19 import V019Build
from wyoming_kokoro.models.v1_0 import V10Build

from .conftest import SHARED_KOKORO

BUILDS = {"v1.0": V10Build(), "v0.19": V019Build()}


@pytest.fixture(scope="module")
def model_files(fixture_weights):
    paths = {"v1.0": fixture_weights["v1_0"], "v0.19": fixture_weights["v0_19"]}
    folders = {"v1.0": "v1_0", "v0.19": "v0_19"}

    def files(version: str) -> tuple[Path, Path]:
        return SHARED_KOKORO / folders[version] / "config.json", paths[version]

    return files


def test_concurrent_first_requests_load_once(model_files) -> None:
    manager = ModelManager(BUILDS, model_files, "cpu", max_loaded=2)
    seen: list[int] = []

    def use() -> None:
        with manager.lease("v1.0") as model:
            seen.append(id(model))

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(seen) == 4 and len(set(seen)) == 1
    assert manager.load_count == {"v1.0": 1}


class WatchedCondition(threading.Condition):
    """The manager's condition, reporting each time a thread starts waiting on it."""

    def __init__(self, on_wait: Callable[[], None]) -> None:
        super().__init__()
        self._on_wait = on_wait

    def wait(self, timeout: float | None = None) -> bool:
        self._on_wait()
        return super().wait(timeout)


def test_single_slot_switches_only_when_idle(model_files) -> None:
    progress = threading.Event()  # v0.19's request either waits or goes ahead
    release = threading.Event()
    v1_in_use = threading.Event()
    requested: list[tuple[str, bool]] = []  # (version, v1.0 still in use) per file request
    waits: list[str] = []

    def files(version: str) -> tuple[Path, Path]:
        requested.append((version, v1_in_use.is_set()))
        progress.set()
        return model_files(version)

    def on_wait() -> None:
        waits.append(threading.current_thread().name)
        progress.set()

    manager = ModelManager(BUILDS, files, "cpu", max_loaded=1)
    manager._cond = WatchedCondition(on_wait)
    results: dict[str, object] = {}

    def hold_v1() -> None:
        with manager.lease("v1.0") as model:
            v1_in_use.set()
            release.wait(60)
            # Still usable: nobody unloaded it under us.
            results["v1"] = model.render(
                "Hello.", "a", SHARED_KOKORO / "v1_0/voices/af_heart.pt", 1.0
            ).size
            v1_in_use.clear()

    def want_v019() -> None:
        with manager.lease("v0.19") as model:
            results["v019"] = model.render(
                "Hello.", "a", SHARED_KOKORO / "v0_19/voices/af_bella.pt", 1.0
            ).size

    a = threading.Thread(target=hold_v1, name="holder")
    a.start()
    assert v1_in_use.wait(120)
    assert requested == [("v1.0", False)]
    b = threading.Thread(target=want_v019, name="waiter")
    b.start()
    assert progress.wait(60), "the v0.19 request neither waited nor loaded"
    assert waits == ["waiter"], "v0.19 must wait for the slot while v1.0 is in use"
    assert requested == [("v1.0", False)], "v0.19's files were fetched while v1.0 was in use"
    assert manager.loaded_versions == ["v1.0"]
    release.set()
    a.join(120)
    b.join(120)
    assert not a.is_alive() and not b.is_alive()
    assert results["v1"] > 0 and results["v019"] > 0
    assert requested == [("v1.0", False), ("v0.19", False)], "loaded only after the release"
    assert manager.loaded_versions == ["v0.19"]
    assert manager.load_count == {"v1.0": 1, "v0.19": 1}


def test_busy_slot_times_out_with_clear_error(model_files) -> None:
    manager = ModelManager(BUILDS, model_files, "cpu", max_loaded=1, wait_timeout=0.5)
    with manager.lease("v1.0") as model:
        started = time.monotonic()
        with pytest.raises(ModelBusyError, match="slot"), manager.lease("v0.19"):
            pass
        elapsed = time.monotonic() - started
        assert 0.5 <= elapsed < 5, f"gave up after {elapsed:.2f} s, not after wait_timeout"
        assert manager.loaded_versions == ["v1.0"]
        assert model.render("Hi.", "a", SHARED_KOKORO / "v1_0/voices/af_heart.pt", 1.0).size
    assert manager.load_count == {"v1.0": 1}


@pytest.mark.parametrize(
    ("build", "checkpoint", "message"),
    [
        (V10Build(), "v0_19", "v0.19 checkpoint"),
        (V019Build(), "v1_0", "not a v0.19 checkpoint"),
    ],
)
def test_checkpoint_of_other_version_is_refused(fixture_weights, build, checkpoint, message):
    with pytest.raises(ModelLoadError, match=message):
        KokoroModel.load(
            build, SHARED_KOKORO / build.folder / "config.json", fixture_weights[checkpoint], "cpu"
        )


def test_checkpoint_missing_a_tensor_is_refused(fixture_weights, tmp_path) -> None:
    state = torch.load(fixture_weights["v1_0"], map_location="cpu", weights_only=True)
    first_key = next(iter(state["decoder"]))
    del state["decoder"][first_key]
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(ModelLoadError, match="decoder"):
        KokoroModel.load(V10Build(), SHARED_KOKORO / "v1_0/config.json", broken, "cpu")


@pytest.mark.parametrize(
    ("version", "pack", "message"),
    [
        ("v1.0", "v0_19/voices/af_bella.pt", "v0.19 pack, which cannot run on v1.0"),
        ("v0.19", "v1_0/voices/af_bella.pt", "v1.0 pack, which cannot run on v0.19"),
    ],
)
def test_voice_pack_of_other_version_is_refused(model_files, version, pack, message) -> None:
    manager = ModelManager(BUILDS, model_files, "cpu")
    with manager.lease(version) as model, pytest.raises(ModelLoadError, match=message):
        model.render("Hello.", "a", SHARED_KOKORO / pack, 1.0)
