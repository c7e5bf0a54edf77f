"""Catalogues, the downloader and the file store, against a real local HTTP server.

The server is `http.server` on a loopback port laid out like the hub
(`/REPO/resolve/REVISION/PATH`), serving the shared data and the fixture
checkpoint in place (a path table, no copies). It honours Range requests and
can be told to cut a response short, corrupt it, fail it with a status, ignore
Range, or stall — the failures a real download meets.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from wyoming_kokoro.config import DEFAULT_HUB_URL, load_settings
from wyoming_kokoro.errors import DownloadError, MissingFileError
from wyoming_kokoro.models.catalogue import (
    LANGUAGES,
    CatalogueFile,
    load_catalogue,
    parse_voice_prefix,
)
from wyoming_kokoro.models.download import (
    MAX_SIZE,
    Downloader,
    DownloadProgress,
    Source,
    source_for,
)
from wyoming_kokoro.models.files import FileStore

from .fake_hub import SHARED_KOKORO, V019_PREFIX, V1_PREFIX, Hub


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the hub stand-in -------------------------------------------------------------------


def fast_downloader(**overrides: float) -> Downloader:
    options = {"timeout": 5.0, "retries": 3, "backoff": 0.01, "max_backoff": 0.05}
    options.update(overrides)
    return Downloader(**options)


def make_store(
    hub: Hub,
    tmp_path: Path,
    *,
    offline: bool = False,
    data_dirs: list[Path] | None = None,
    downloader: Downloader | None = None,
    **kwargs,
) -> FileStore:
    sources = {
        "v1.0": source_for("v1.0", hub.url, "hexgrad/Kokoro-82M", "main"),
        "v0.19": source_for("v0.19", hub.url, "hexgrad/kLegacy", "main"),
    }
    data = tmp_path / "data"
    return FileStore(
        data_dirs=data_dirs if data_dirs is not None else [data],
        download_dir=data,
        sources=sources,
        offline=offline,
        downloader=downloader or fast_downloader(),
        **kwargs,
    )


def leftovers(root: Path) -> list[Path]:
    return sorted(root.rglob("*.part")) if root.exists() else []


# -- catalogues ---------------------------------------------------------------------------


def test_v1_catalogue_lists_every_pack_with_its_real_size_and_hash() -> None:
    catalogue = load_catalogue("v1.0")
    packs = sorted(p.stem for p in (SHARED_KOKORO / "v1_0" / "voices").glob("*.pt"))
    assert sorted(catalogue.voices) == packs and len(packs) == 68
    official = [v for v in catalogue.voices.values() if v.official]
    assert len(official) == 54
    community = sorted(n for n, v in catalogue.voices.items() if not v.official)
    assert community == sorted([*(n for n in packs if "_v0" in n), "af_jadzia"])
    for voice in catalogue.voices.values():
        path = SHARED_KOKORO / "v1_0" / voice.file.path
        assert voice.file.size == path.stat().st_size, voice.name
        assert voice.file.sha256 == sha256(path), voice.name
    assert catalogue.config.sha256 == sha256(SHARED_KOKORO / "v1_0" / "config.json")
    assert catalogue.checkpoint == CatalogueFile(
        "kokoro-v1_0.pth",
        327_212_226,
        "496dba118d1a58f5f3db2efc88dbdc216e0483fc89fe6e47ee1f2c53f18ad1e4",
    )


def test_catalogue_voice_details() -> None:
    v1, v019 = load_catalogue("v1.0"), load_catalogue("v0.19")
    heart = v1.voices["af_heart"]
    assert (heart.display_name, heart.language, heart.language_name, heart.gender) == (
        "Heart",
        "en-us",
        "American English",
        "female",
    )
    assert heart.file.path == "voices/af_heart.pt" and heart.version == "v1.0"
    assert v1.voices["af_v0bella"].display_name == "Bella (v0.19 port)"
    assert v1.voices["zm_yunxi"].language == "zh-cn" and v1.voices["zm_yunxi"].gender == "male"
    assert v1.voices["pf_dora"].language == "pt-br"
    assert len(v019.voices) == 13 and v019.folder == "v0_19"
    assert "Bella" in v019.voices["af"].display_name and "Sarah" in v019.voices["af"].display_name
    assert v019.checkpoint.sha256 == (
        "3b0c392f87508da38fad3a2f9d94c359f1b657ebd2ef79f9d56d69503e470b0a"
    )
    for voice in v019.voices.values():
        assert voice.file.sha256 == sha256(SHARED_KOKORO / "v0_19" / voice.file.path)


def test_parse_voice_prefix_for_user_packs() -> None:
    assert parse_voice_prefix("bm_custom") == ("en-gb", "British English", "male")
    assert parse_voice_prefix("ef_mine") == ("es", "Spanish", "female")
    assert parse_voice_prefix("qx_thing") == ("und", "unknown language", None)
    assert parse_voice_prefix("f") == ("fr-fr", "French", None)
    assert set(LANGUAGES) == set("abefhijpz")


def test_sources_build_hub_urls_with_the_v019_subfolder() -> None:
    v1 = source_for("v1.0", "https://hf.example/", "hexgrad/Kokoro-82M", "main")
    assert v1.url_for("voices/af_heart.pt") == (
        "https://hf.example/hexgrad/Kokoro-82M/resolve/main/voices/af_heart.pt"
    )
    legacy = source_for("v0.19", "https://huggingface.co", "hexgrad/kLegacy", "main")
    assert legacy.url_for("kokoro-v0_19.pth") == (
        "https://huggingface.co/hexgrad/kLegacy/resolve/main/v0.19/kokoro-v0_19.pth"
    )
    # The old home of v0.19 kept it at the repository root.
    old = source_for("v0.19", "https://huggingface.co", "hexgrad/Kokoro-82M", "b08fa22")
    assert old.url_for("config.json").endswith("/Kokoro-82M/resolve/b08fa22/config.json")


def test_hf_endpoint_is_the_default_hub_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file store fetches from `settings.hub_url` as is; HF_ENDPOINT is the settings' job.

    So an explicit --hub-url wins even when it names the default hub (it once lost to
    HF_ENDPOINT because the server could not tell it from the default).
    """
    from wyoming_kokoro.server import make_file_store  # imports torch: only here

    mirror = {"HF_ENDPOINT": "http://mirror.local:8080/"}
    monkeypatch.setenv("HF_ENDPOINT", mirror["HF_ENDPOINT"])  # the store must not read it

    def hubs(cli: dict[str, str], environ: dict[str, str]) -> set[str]:
        store = make_file_store(load_settings(cli, environ))
        return {source.base_url for source in store.sources.values()}

    assert hubs({}, mirror) == {"http://mirror.local:8080"}
    assert hubs({"hub_url": DEFAULT_HUB_URL}, mirror) == {DEFAULT_HUB_URL}
    assert hubs({"hub_url": "http://other.example/hf/"}, mirror) == {"http://other.example/hf"}
    assert hubs({}, {}) == {DEFAULT_HUB_URL}


# -- downloads ----------------------------------------------------------------------------


def test_first_run_downloads_model_and_voice_into_the_data_dir(
    hub: Hub, tmp_path: Path, fixture_weights: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint_sha = sha256(fixture_weights["v1_0"])
    store = make_store(
        hub,
        tmp_path,
        checkpoint_sha256={"v1.0": checkpoint_sha},
        downloader=fast_downloader(progress_interval=0.0),
    )
    data = tmp_path / "data" / "v1_0"
    with caplog.at_level(logging.INFO, logger="wyoming_kokoro.models.download"):
        config, checkpoint = store.ensure_model("v1.0")
        voice = store.ensure("v1.0", "voices/af_heart.pt")
    assert (config, checkpoint, voice) == (
        data / "config.json",
        data / "kokoro-v1_0.pth",
        data / "voices" / "af_heart.pt",
    )
    assert sha256(config) == load_catalogue("v1.0").config.sha256
    assert sha256(checkpoint) == checkpoint_sha
    assert sha256(voice) == load_catalogue("v1.0").voices["af_heart"].file.sha256
    assert leftovers(tmp_path) == []
    assert any("%" in r.getMessage() and "MB/s" in r.getMessage() for r in caplog.records)

    # A second call finds everything on disk: no further requests.
    requests = len(hub.log)
    assert store.ensure_model("v1.0") == (config, checkpoint)
    assert store.ensure("v1.0", "voices/af_heart.pt") == voice
    assert len(hub.log) == requests


def test_v019_files_come_from_the_klegacy_subfolder(hub: Hub, tmp_path: Path) -> None:
    store = make_store(hub, tmp_path)
    path = store.ensure("v0.19", "voices/af_bella.pt")
    assert path == tmp_path / "data" / "v0_19" / "voices" / "af_bella.pt"
    assert hub.gets(V019_PREFIX + "voices/af_bella.pt") == [None]
    assert sha256(path) == load_catalogue("v0.19").voices["af_bella"].file.sha256


def test_corrupted_download_is_rejected_then_a_good_one_succeeds(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/af_bella.pt"
    hub.corrupt.add(route)
    store = make_store(hub, tmp_path)
    expected = load_catalogue("v1.0").voices["af_bella"].file.sha256
    with pytest.raises(DownloadError) as info:
        store.ensure("v1.0", "voices/af_bella.pt")
    message = str(info.value)
    assert "v1_0/voices/af_bella.pt" in message
    assert hub.url + route in message
    assert expected in message and "got" in message
    target = tmp_path / "data" / "v1_0" / "voices" / "af_bella.pt"
    assert not target.exists() and leftovers(tmp_path) == []

    hub.corrupt.clear()
    assert store.ensure("v1.0", "voices/af_bella.pt") == target
    assert sha256(target) == expected


def test_cut_download_resumes_with_a_range_request(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/am_adam.pt"
    hub.cut_next[route] = 200_000
    store = make_store(hub, tmp_path)
    path = store.ensure("v1.0", "voices/am_adam.pt")
    assert hub.gets(route) == [None, "bytes=200000-"]
    assert sha256(path) == load_catalogue("v1.0").voices["am_adam"].file.sha256
    assert leftovers(tmp_path) == []


def test_server_ignoring_range_restarts_the_file(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/bf_emma.pt"
    hub.cut_next[route] = 100_000
    hub.ignore_range = True  # answers 200 with the whole file to a Range request
    path = make_store(hub, tmp_path).ensure("v1.0", "voices/bf_emma.pt")
    assert hub.gets(route) == [None, "bytes=100000-"]
    assert sha256(path) == load_catalogue("v1.0").voices["bf_emma"].file.sha256


def test_part_file_from_an_earlier_run_is_resumed(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/bm_george.pt"
    original = SHARED_KOKORO / "v1_0" / "voices" / "bm_george.pt"
    part = tmp_path / "data" / "v1_0" / "voices" / "bm_george.pt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(original.read_bytes()[:123_456])
    path = make_store(hub, tmp_path).ensure("v1.0", "voices/bm_george.pt")
    assert hub.gets(route) == ["bytes=123456-"]
    assert sha256(path) == sha256(original) and not part.exists()


def test_stale_part_file_that_does_not_verify_is_downloaded_again(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/bm_lewis.pt"
    part = tmp_path / "data" / "v1_0" / "voices" / "bm_lewis.pt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 1000)  # garbage from some other file
    path = make_store(hub, tmp_path).ensure("v1.0", "voices/bm_lewis.pt")
    assert hub.gets(route) == ["bytes=1000-", None]
    assert sha256(path) == load_catalogue("v1.0").voices["bm_lewis"].file.sha256


def test_server_errors_are_retried(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/af_sky.pt"
    hub.fail_next[route] = [503, 502]
    path = make_store(hub, tmp_path).ensure("v1.0", "voices/af_sky.pt")
    assert len(hub.gets(route)) == 3
    assert sha256(path) == load_catalogue("v1.0").voices["af_sky"].file.sha256


def test_persistent_server_errors_give_up_with_a_clear_error(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/af_nova.pt"
    hub.fail_next[route] = [500] * 10
    with pytest.raises(DownloadError, match=r"HTTP 500.*gave up after 3 attempts"):
        make_store(hub, tmp_path).ensure("v1.0", "voices/af_nova.pt")
    assert len(hub.gets(route)) == 3


def test_missing_file_is_a_clear_404_error_without_retries(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/af_nobody.pt"
    with pytest.raises(DownloadError) as info:
        make_store(hub, tmp_path).ensure("v1.0", "voices/af_nobody.pt")
    assert f"not found at {hub.url}{route}" in str(info.value)
    assert len(hub.gets(route)) == 1


def test_community_voice_missing_on_the_server_says_where_to_put_it(
    hub: Hub, tmp_path: Path
) -> None:
    del hub.routes[V1_PREFIX + "voices/af_jadzia.pt"]  # as on hexgrad/Kokoro-82M
    with pytest.raises(DownloadError, match=r"community voice pack.*DIR/v1_0/voices/af_jadzia"):
        make_store(hub, tmp_path).ensure("v1.0", "voices/af_jadzia.pt")


def test_connection_refused_names_the_host(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = FileStore(
        [tmp_path],
        tmp_path,
        {"v1.0": Source(f"http://127.0.0.1:{port}", "hexgrad/Kokoro-82M", "main")},
        offline=False,
        downloader=fast_downloader(retries=2),
    )
    with pytest.raises(DownloadError, match=rf"connection to 127\.0\.0\.1:{port} refused"):
        store.ensure("v1.0", "config.json")
    assert leftovers(tmp_path) == []


def test_silent_server_times_out_instead_of_hanging(hub: Hub, tmp_path: Path) -> None:
    hub.stall = 1.0
    store = make_store(hub, tmp_path, downloader=fast_downloader(timeout=0.3, retries=2))
    began = time.monotonic()
    with pytest.raises(DownloadError, match="did not answer in time"):
        store.ensure("v1.0", "config.json")
    assert time.monotonic() - began < 5


def test_concurrent_requests_for_one_voice_download_it_once(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/af_river.pt"
    hub.delay = 0.5  # both callers are inside ensure() while the first download runs
    store = make_store(hub, tmp_path)
    barrier = threading.Barrier(2)
    results: list[Path | BaseException] = []

    def fetch() -> None:
        barrier.wait()
        try:
            results.append(store.ensure("v1.0", "voices/af_river.pt"))
        except BaseException as err:  # reported below
            results.append(err)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    expected = tmp_path / "data" / "v1_0" / "voices" / "af_river.pt"
    assert results == [expected, expected]
    assert len(hub.gets(route)) == 1


# -- limits: size cap, deadline, progress ------------------------------------------------

UNPINNED = {"v1.0": "0" * 64}
"""A checkpoint override: the store then knows no size for the v1.0 checkpoint."""


def test_endless_body_of_unknown_size_is_cut_off_at_the_cap(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "kokoro-v1_0.pth"
    hub.endless.add(route)  # no Content-Length, and the bytes never stop
    store = make_store(
        hub, tmp_path, checkpoint_sha256=UNPINNED, downloader=fast_downloader(max_size=3_000_000)
    )
    began = time.monotonic()
    with pytest.raises(DownloadError) as info:
        store.ensure("v1.0", "kokoro-v1_0.pth")
    assert time.monotonic() - began < 5
    message = str(info.value)
    assert message.startswith(f"refused v1_0/kokoro-v1_0.pth from {hub.url}{route}: ")
    assert "sent more, more than the 3,000,000 bytes allowed for a file of unknown size" in message
    assert "deleted" in message
    assert leftovers(tmp_path) == [] and not (tmp_path / "data/v1_0/kokoro-v1_0.pth").exists()
    assert len(hub.gets(route)) == 1  # refused, not retried
    assert store.in_progress() == {}


def test_endless_body_of_a_pinned_file_stops_at_its_catalogue_size(
    hub: Hub, tmp_path: Path
) -> None:
    route = V1_PREFIX + "voices/af_heart.pt"
    hub.endless.add(route)
    size = load_catalogue("v1.0").voices["af_heart"].file.size
    with pytest.raises(DownloadError, match=f"more than the {size:,} bytes the catalogue gives"):
        make_store(hub, tmp_path).ensure("v1.0", "voices/af_heart.pt")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("relpath", "claimed", "pins", "allowed"),
    [
        ("kokoro-v1_0.pth", MAX_SIZE + 1, UNPINNED, f"the {MAX_SIZE:,} bytes allowed for a file"),
        ("voices/af_heart.pt", 10**9, {}, "the 523,425 bytes the catalogue gives for it"),
    ],
)
def test_content_length_over_the_limit_is_refused_before_the_body(
    hub: Hub, tmp_path: Path, relpath: str, claimed: int, pins: dict, allowed: str
) -> None:
    route = V1_PREFIX + relpath
    hub.claim_length[route] = claimed
    store = make_store(hub, tmp_path, checkpoint_sha256=pins)
    began = time.monotonic()
    with pytest.raises(DownloadError) as info:
        store.ensure("v1.0", relpath)
    assert time.monotonic() - began < 5  # the body was not read (the hub loads 327 MB first)
    assert f"the server announces {claimed:,} bytes, more than {allowed}" in str(info.value)
    assert leftovers(tmp_path) == []


def test_trickling_download_stops_at_its_deadline_and_resumes_later(
    hub: Hub, tmp_path: Path
) -> None:
    route = V1_PREFIX + "voices/am_michael.pt"
    hub.throttle[route] = 40_000  # bytes per second, steadily: no read ever times out
    downloader = fast_downloader(min_deadline=1.0, min_rate=1e12)  # deadline: 1 s
    store = make_store(hub, tmp_path, downloader=downloader)
    began = time.monotonic()
    with pytest.raises(DownloadError) as info:
        store.ensure("v1.0", "voices/am_michael.pt")
    assert time.monotonic() - began < 2.5
    message = str(info.value)
    assert "cannot download v1_0/voices/am_michael.pt" in message
    assert "did not finish within 1 s" in message and "MB" in message, message
    assert "next request resumes it" in message
    [part] = leftovers(tmp_path)
    kept = part.stat().st_size
    assert 10_000 < kept < 200_000

    del hub.throttle[route]
    path = store.ensure("v1.0", "voices/am_michael.pt")
    assert hub.gets(route) == [None, f"bytes={kept}-"]
    assert sha256(path) == load_catalogue("v1.0").voices["am_michael"].file.sha256


def test_deadline_grows_with_the_size() -> None:
    downloader = Downloader()
    assert downloader.deadline_for(500_000) == 600.0  # a voice pack: 10 minutes
    assert downloader.deadline_for(327_212_226) == pytest.approx(3272.1, abs=0.1)  # 100 kB/s
    assert downloader.deadline_for(MAX_SIZE) == pytest.approx(10737.4, abs=0.1)


def test_progress_of_a_running_download_without_waiting_for_it(hub: Hub, tmp_path: Path) -> None:
    route = V1_PREFIX + "voices/am_puck.pt"
    size = load_catalogue("v1.0").voices["am_puck"].file.size
    hub.throttle[route] = size / 1.5  # about 1.5 s
    store = make_store(hub, tmp_path)
    fetching = threading.Thread(target=store.ensure, args=("v1.0", "voices/am_puck.pt"))
    fetching.start()
    try:
        deadline = time.monotonic() + 5
        while not store.in_progress().get("v1_0/voices/am_puck.pt", None) or (
            store.in_progress()["v1_0/voices/am_puck.pt"].done == 0
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        # Lookups answer at once: they never take the download's lock.
        began = time.monotonic()
        progress = store.in_progress()["v1_0/voices/am_puck.pt"]
        assert store.can_serve("v1.0", "voices/am_puck.pt")
        assert store.find("v1.0", "voices/am_puck.pt") is None
        assert time.monotonic() - began < 0.1
        assert progress.total == size and 0 < progress.done < size
        assert progress.rate is not None and progress.rate > 0
        assert re.fullmatch(r"0\.\d of 0\.5 MB, \d+ %, about \d s left", progress.summary())
    finally:
        fetching.join(timeout=10)
    assert store.in_progress() == {}
    assert store.find("v1.0", "voices/am_puck.pt") is not None


def test_progress_summaries() -> None:
    mb = 1_000_000
    assert DownloadProgress("f", 112 * mb, 327 * mb, rate=5 * mb).summary() == (
        "112 of 327 MB, 34 %, about 43 s left"
    )
    assert DownloadProgress("f", 30 * mb, 327 * mb, rate=1e5).summary() == (
        "30 of 327 MB, 9 %, about 50 min left"
    )
    assert DownloadProgress("f", 1_234_567, None).summary() == "1.2 MB so far"
    assert DownloadProgress("f", 0, 327 * mb).summary() == "0.0 of 327 MB, 0 %"
    assert DownloadProgress("f", 0, None).summary() == "waiting for the server"
    assert DownloadProgress("f", 327 * mb, 327 * mb, verifying=True).summary() == (
        "327 MB received, checking its SHA-256"
    )


# -- offline mode and lookup --------------------------------------------------------------


def test_offline_serves_files_on_disk_without_network(hub: Hub, tmp_path: Path) -> None:
    store = make_store(hub, tmp_path, offline=True, data_dirs=[tmp_path / "empty", SHARED_KOKORO])
    path = store.ensure("v1.0", "voices/af_heart.pt")
    assert path == SHARED_KOKORO / "v1_0" / "voices" / "af_heart.pt"
    assert store.find("v0.19", "config.json") == SHARED_KOKORO / "v0_19" / "config.json"
    assert hub.log == []


def test_offline_missing_file_names_the_file_and_every_dir(hub: Hub, tmp_path: Path) -> None:
    dirs = [tmp_path / "one", tmp_path / "two"]
    store = make_store(hub, tmp_path, offline=True, data_dirs=dirs)
    with pytest.raises(MissingFileError) as info:
        store.ensure_model("v1.0")
    message = str(info.value)
    assert "config.json" in message and "offline" in message
    for directory in [*dirs, tmp_path / "data"]:
        assert str(directory / "v1_0") in message
    assert not isinstance(info.value, DownloadError)
    assert hub.log == []


def test_first_data_dir_wins(hub: Hub, tmp_path: Path) -> None:
    mine = tmp_path / "mine" / "v1_0" / "voices" / "af_heart.pt"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own build")
    store = make_store(hub, tmp_path, data_dirs=[tmp_path / "mine", SHARED_KOKORO])
    assert store.ensure("v1.0", "voices/af_heart.pt") == mine
    assert hub.log == []


def test_can_serve_offline_and_online(hub: Hub, tmp_path: Path) -> None:
    offline = make_store(hub, tmp_path, offline=True, data_dirs=[SHARED_KOKORO])
    assert offline.can_serve("v1.0", "voices/af_heart.pt")
    assert not offline.can_serve("v1.0", "kokoro-v1_0.pth")
    online = make_store(hub, tmp_path, data_dirs=[])
    assert online.can_serve("v1.0", "kokoro-v1_0.pth")
    assert online.can_serve("v0.19", "voices/af.pt")
    assert hub.log == []


def test_paths_outside_the_version_folder_are_refused(hub: Hub, tmp_path: Path) -> None:
    store = make_store(hub, tmp_path)
    with pytest.raises(ValueError):
        store.ensure("v1.0", "../../etc/passwd")


def test_refresh_voices_refetches_only_outdated_packs(hub: Hub, tmp_path: Path) -> None:
    voices = tmp_path / "data" / "v1_0" / "voices"
    voices.mkdir(parents=True)
    (voices / "af_heart.pt").write_bytes(b"an older pack")
    good = SHARED_KOKORO / "v1_0" / "voices" / "am_eric.pt"
    (voices / "am_eric.pt").write_bytes(good.read_bytes())
    store = make_store(hub, tmp_path)
    assert store.refresh_voices("v1.0") == ["af_heart"]
    assert sha256(voices / "af_heart.pt") == load_catalogue("v1.0").voices["af_heart"].file.sha256
    assert [p for p, _ in hub.log] == [V1_PREFIX + "voices/af_heart.pt"]
    assert make_store(hub, tmp_path, offline=True).refresh_voices("v1.0") == []
