#!/usr/bin/env python3
"""Generate wyoming_kokoro/voices/v1_0/voices.json and …/v0_19/voices.json from a copy of the data.

Usage: python tools/make_catalogue.py [DATA_DIR] [--out VOICES_DIR]

DATA_DIR has the data-dir layout (`v1_0/config.json`, `v1_0/voices/*.pt`,
`v0_19/...`; default ../shared/kokoro beside the checkout). Sizes and SHA-256
of the config and every voice pack are computed from those files; the
checkpoints are too big to keep around, so their records are the constants
below, with where each fact was found. Display names, languages and the
official/community split follow the rules in `describe_voice`.

The output is deterministic (sorted keys), so re-running it on the same data
gives a byte-identical file and a diff shows exactly what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wyoming_kokoro.models.catalogue import (  # noqa: E402 - needs the path above
    CATALOGUE_FILE,
    parse_voice_prefix,
)

# Facts about each version's source that cannot be computed from the data copy.
VERSIONS: dict[str, dict[str, Any]] = {
    "v1.0": {
        "folder": "v1_0",
        "source": {"repo": "hexgrad/Kokoro-82M", "prefix": ""},
        "checkpoint": {
            "path": "kokoro-v1_0.pth",
            # Hub page hexgrad/Kokoro-82M/blob/main/kokoro-v1_0.pth (LFS/Xet details);
            # the byte size is pinned next to this hash by several independent projects.
            "size": 327_212_226,
            "sha256": "496dba118d1a58f5f3db2efc88dbdc216e0483fc89fe6e47ee1f2c53f18ad1e4",
        },
        "notes": [
            "Official voices are hexgrad's 54 voices in hexgrad/Kokoro-82M/voices.",
            "Community packs (official: false) are not in hexgrad/Kokoro-82M: place them "
            "in DIR/v1_0/voices/ or use a mirror that carries them.",
        ],
    },
    "v0.19": {
        "folder": "v0_19",
        # v0.19 was moved out of hexgrad/Kokoro-82M into hexgrad/kLegacy, subfolder v0.19/
        # (hub tree hexgrad/kLegacy/tree/main/v0.19: config.json, kokoro-v0_19.pth, voices/).
        # At hexgrad/Kokoro-82M revision b08fa2292f7aba5d98e001a24ab68a2ddc46d97e the same
        # files sat at the repository root (use --v019-repo/--v019-revision for that).
        "source": {"repo": "hexgrad/kLegacy", "prefix": "v0.19/"},
        "checkpoint": {
            "path": "kokoro-v0_19.pth",
            # Exact byte size not published in a form we could verify ("327 MB").
            "size": None,
            # hexgrad/Kokoro-82M blob kokoro-v0_19.pth at b08fa229... (LFS details) and the
            # v0.19 model card ("Model SHA256 Hash").
            "sha256": "3b0c392f87508da38fad3a2f9d94c359f1b657ebd2ef79f9d56d69503e470b0a",
        },
        "notes": [
            "Files live in hexgrad/kLegacy under v0.19/.",
            "af is hexgrad's default v0.19 voice, an even blend of af_bella and af_sarah.",
        ],
    },
}

V019_COMMUNITY = {"af_irulan", "am_gurney"}
"""v0.19 packs that are not in hexgrad's v0.19 release list (model card)."""

V10_COMMUNITY_EXTRA = {"af_jadzia"}
"""v1.0 community packs besides the `*_v0*` ports."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(base: Path, relpath: str) -> dict[str, Any]:
    path = base / relpath
    return {"path": relpath, "size": path.stat().st_size, "sha256": sha256_of(path)}


def describe_voice(version: str, name: str) -> dict[str, Any]:
    """Display name, official flag and note of one voice, by the naming rules."""
    rest = name.split("_", 1)[1] if "_" in name else ""
    note = None
    if version == "v1.0" and rest.startswith("v0"):
        base = rest[2:]
        original = f"{name[:2]}_{base}" if base else name[:2]
        display = f"{base.title() if base else 'Bella & Sarah blend'} (v0.19 port)"
        official = False
        note = f"Community port of the v0.19 voice {original} to the v1.0 model."
    elif version == "v0.19" and not rest:
        display = "Bella & Sarah blend"
        official = True
        note = "hexgrad's default v0.19 voice: an even blend of af_bella and af_sarah."
    else:
        display = rest.replace("_", " ").title()
        community = V10_COMMUNITY_EXTRA if version == "v1.0" else V019_COMMUNITY
        official = name not in community
        if not official:
            note = "Community voice pack, not part of hexgrad's release."
    entry: dict[str, Any] = {"display_name": display, "official": official}
    if note:
        entry["note"] = note
    return entry


def build(version: str, data_dir: Path) -> dict[str, Any]:
    facts = VERSIONS[version]
    base = data_dir / facts["folder"]
    voices: dict[str, Any] = {}
    for pack in sorted((base / "voices").glob("*.pt")):
        name = pack.stem
        language, language_name, gender = parse_voice_prefix(name)
        voices[name] = {
            "language": language,
            "language_name": language_name,
            "gender": gender,
            **describe_voice(version, name),
            "file": file_record(base, f"voices/{name}.pt"),
        }
    if not voices:
        raise SystemExit(f"no voice packs in {base / 'voices'}")
    return {
        "version": version,
        "folder": facts["folder"],
        "source": facts["source"],
        "notes": facts["notes"],
        "config": file_record(base, "config.json"),
        "checkpoint": facts["checkpoint"],
        "voices": voices,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data_dir",
        nargs="?",
        type=Path,
        default=ROOT.parent / "shared" / "kokoro",
        help="folder with v1_0/ and v0_19/ (default: ../shared/kokoro)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "wyoming_kokoro" / "voices",
        help="catalogue folder (default: wyoming_kokoro/voices)",
    )
    args = parser.parse_args(argv)
    for version, facts in VERSIONS.items():
        catalogue = build(version, args.data_dir)
        target = args.out / facts["folder"] / CATALOGUE_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(catalogue, indent=2, ensure_ascii=False) + "\n")
        official = sum(v["official"] for v in catalogue["voices"].values())
        print(f"{target}: {len(catalogue['voices'])} voices ({official} official)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
