"""espeak-ng for phonemizer, from the `espeakng-loader` wheel.

Pointing phonemizer at the library and data shipped inside that wheel makes
espeak-ng work on a clean machine with no system package installed.
"""

from __future__ import annotations

import functools

from phonemizer.backend import EspeakBackend


@functools.cache
def _configure_library() -> None:
    import espeakng_loader
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())


def espeak_backend(language: str, **options: object) -> EspeakBackend:
    """An espeak-ng phonemizer backend for `language` (e.g. "en-us")."""
    _configure_library()
    return EspeakBackend(language=language, **options)
