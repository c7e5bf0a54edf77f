"""The Kokoro generations this server runs, and the tables everything else derives from them.

Version strings, data-dir folders and voice languages are facts of the builds
(`v1_0.py`, `v0_19.py`); settings, catalogues, the registry and `describe` read
them from here, so a generation or a language is added in its build alone.
Importing this module loads no torch: the settings layer uses it at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .build import Language, VersionBuild
from .v0_19 import V019Build
from .v1_0 import V10Build

BUILDS: tuple[VersionBuild, ...] = (V10Build(), V019Build())
"""Every generation, the default one first."""

DEFAULT_VERSION = BUILDS[0].version

VERSIONS: tuple[str, ...] = tuple(build.version for build in BUILDS)
"""User-facing version strings, as written in settings and voice names."""

VERSION_FOLDERS: Mapping[str, str] = MappingProxyType(
    {build.version: build.folder for build in BUILDS}
)
"""Version -> folder name (in data dirs and in the shipped catalogues)."""


def _all_languages() -> Mapping[str, Language]:
    languages: dict[str, Language] = {}
    for build in BUILDS:
        for prefix, language in build.languages.items():
            known = languages.setdefault(prefix, language)
            if known != language:  # pragma: no cover - a build table typo
                raise RuntimeError(f"voice prefix {prefix!r} means {known} and {language}")
    return MappingProxyType(languages)


LANGUAGES: Mapping[str, Language] = _all_languages()
"""Voice-name prefix letter -> language, over every generation."""


def builds_by_version() -> dict[str, VersionBuild]:
    """Every generation this server can run, by version string."""
    return {build.version: build for build in BUILDS}
