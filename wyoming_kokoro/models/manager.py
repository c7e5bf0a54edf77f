"""The model manager: one loaded network per generation, shared by every connection.

Models load lazily on first use, once (concurrent first requests wait for the
same load), and at most `max_loaded` stay in memory. When a different version is
needed and no slot is free, the least recently used model that no request is
using is unloaded; a model in use is never unloaded under a request. If every
slot stays busy beyond `wait_timeout` seconds the request fails with a clear
error instead of waiting forever.

The manager is called from worker threads (it blocks while loading), never
from the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch

from ..errors import ConfigError, ModelBusyError
from ..memory import release_free_memory
from .build import VersionBuild
from .model import KokoroModel, ModelOptions

_LOGGER = logging.getLogger(__name__)

ModelFiles = Callable[[str], tuple[Path, Path]]
"""version -> (config.json, checkpoint) on disk; fetches them if needed."""


def resolve_device(requested: str) -> str:
    """Turn "auto" into "cuda" or "cpu"; refuse "cuda" on a machine without one."""
    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if available else "cpu"
    if requested == "cuda" and not available:
        raise ConfigError("device: 'cuda' was requested but torch sees no CUDA device")
    return requested


class ModelManager:
    """Maps a version ("v1.0", "v0.19") to its loaded `KokoroModel`."""

    def __init__(
        self,
        builds: Mapping[str, VersionBuild],
        model_files: ModelFiles,
        device: str,
        max_loaded: int = 2,
        wait_timeout: float = 300.0,
        options: ModelOptions | None = None,
    ) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self.builds = builds
        self.device = device
        self.options = options
        """Settings each loaded model applies (lexicon, vocoder window)."""
        self.max_loaded = max_loaded
        self.wait_timeout = wait_timeout
        self._model_files = model_files
        self._models: OrderedDict[str, KokoroModel] = OrderedDict()  # LRU order
        self._users: dict[str, int] = {}
        self._loading: set[str] = set()
        self._cond = threading.Condition()
        self.load_count: dict[str, int] = {}

    @property
    def loaded_versions(self) -> list[str]:
        """Versions in memory now, least recently used first."""
        with self._cond:
            return list(self._models)

    @contextmanager
    def lease(self, version: str) -> Iterator[KokoroModel]:
        """Use the model of `version` for the duration of the block (loading it if needed)."""
        if version not in self.builds:
            raise ValueError(f"unknown version {version!r}")
        model = self._acquire(version)
        try:
            yield model
        finally:
            with self._cond:
                self._users[version] -= 1
                self._cond.notify_all()

    def _acquire(self, version: str) -> KokoroModel:
        deadline = time.monotonic() + self.wait_timeout
        with self._cond:
            while True:
                if version in self._models:
                    self._models.move_to_end(version)
                    self._users[version] = self._users.get(version, 0) + 1
                    return self._models[version]
                if version not in self._loading:
                    if len(self._models) + len(self._loading) < self.max_loaded:
                        self._loading.add(version)
                        break
                    if self._evict_idle():
                        continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ModelBusyError(
                        f"Kokoro {version} could not be loaded: all {self.max_loaded} model "
                        f"slot(s) stayed busy for {self.wait_timeout:.0f} s "
                        "(raise max_loaded_models or retry)"
                    )
                self._cond.wait(remaining)
        # Load outside the lock: describe and other versions keep working meanwhile.
        try:
            config_path, checkpoint_path = self._model_files(version)
            model = KokoroModel.load(
                self.builds[version], config_path, checkpoint_path, self.device, self.options
            )
        except BaseException:
            with self._cond:
                self._loading.discard(version)
                self._cond.notify_all()
            raise
        release_free_memory()  # the checkpoint's tensors, copied into the network, are garbage
        with self._cond:
            self._loading.discard(version)
            self._models[version] = model
            self._users[version] = self._users.get(version, 0) + 1
            self.load_count[version] = self.load_count.get(version, 0) + 1
            self._cond.notify_all()
            return model

    def _evict_idle(self) -> bool:
        """Unload the least recently used model nobody is using. Caller holds the lock."""
        for version in self._models:
            if self._users.get(version, 0) == 0:
                model = self._models.pop(version)
                model.unload()
                _LOGGER.info("Unloaded Kokoro %s to make room (max %d)", version, self.max_loaded)
                return True
        return False
