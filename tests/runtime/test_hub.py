"""Tests of contrique_infer.hub against a real HTTP server that speaks the Hub's file protocol.

The server (tests/fake_hub.py) runs on 127.0.0.1 and ``huggingface_hub`` is pointed at it. Its
``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and similar settings are read when it is imported, so the
fixture sets them on ``huggingface_hub.constants``; the retry back-off sleeps of
``huggingface_hub`` are skipped so that the fault tests stay fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from fake_hub import HUB_REPO as REPO
from fake_hub import FakeHub, Fault
from huggingface_hub import constants, hf_hub_download
from tiny_bundle import make_heads, write_tiny_bundle

from contrique_infer.bundle import file_table, load_bundle, needed_files, verify_file
from contrique_infer.deadline import DEADLINE_ENV, DEFAULT_DEADLINE, deadline_seconds
from contrique_infer.errors import (
    BundleFileError,
    HashMismatchError,
    HubConnectionError,
    HubError,
    HubNotFoundError,
    ManifestError,
    OfflineCacheMissError,
)
from contrique_infer.head import Head
from contrique_infer.hub import RemoteBundle, fetch_files, fetch_manifest, is_repo_id
from contrique_infer.manifest import Manifest

NEEDED = ["contrique.json", "encoder.onnx", "heads/quality.json"]



@pytest.fixture(scope="module")
def bundle_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bundle with a retrained ``quality`` head (another intercept): a second version."""
    folder = write_tiny_bundle(tmp_path_factory.mktemp("v2") / "tiny", name="tiny-test-bundle-v2")
    head = make_heads()[0]
    Head(head.info, head.coef, head.intercept + 7.0, head.alpha).save(folder / head.info.file)
    manifest = Manifest.load(folder)
    dataclasses.replace(manifest, files=file_table(folder, manifest.files)).save(folder)
    return folder


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def fetch(revision: str | None = None, *, cache_dir: Path, head: str = "quality", **kw) -> tuple[RemoteBundle, Path]:
    """Fetch the manifest, then the files the fp32 variant and one head need."""
    remote = fetch_manifest(REPO, revision=revision, cache_dir=cache_dir, **kw)
    return remote, fetch_files(remote, needed_files(remote.manifest, "fp32", [head]), cache_dir=cache_dir, **kw)


def quality_intercept(folder: Path) -> float:
    return load_bundle(folder, heads=["quality"]).heads["quality"].intercept


def cached_files_with(cache_dir: Path, data: bytes) -> list[Path]:
    """Every file in the cache (through symlinks) whose bytes are ``data``."""
    digest = hashlib.sha256(data).hexdigest()
    return [p for p in cache_dir.rglob("*") if p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == digest]


# --- downloads and the cache ------------------------------------------------------------------------


def test_download_fetches_only_needed_files_and_verifies(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    commit = hub.add_commit(REPO, tiny_bundle_dir)
    remote, folder = fetch(cache_dir=cache)

    assert remote == RemoteBundle(REPO, commit, Manifest.load(tiny_bundle_dir))
    assert folder.name == commit and folder.parent.name == "snapshots"
    assert set(hub.requested()) == set(NEEDED)  # heads/fr_quality.json was never asked for
    assert sorted(hub.requested("GET")) == sorted(NEEDED)
    # the encoder came the LFS way: metadata from the Hub host (once for the size check, once for the
    # download), bytes from the CDN host
    assert [(r.method, r.host) for r in hub.log if r.path == "encoder.onnx"] == [
        ("HEAD", "127.0.0.1"), ("HEAD", "127.0.0.1"), ("GET", "localhost")]
    assert (folder / "encoder.onnx").read_bytes() == (tiny_bundle_dir / "encoder.onnx").read_bytes()
    assert not (folder / "heads" / "fr_quality.json").exists()
    assert quality_intercept(folder) == make_heads()[0].intercept


def test_default_cache_dir_is_hf_hub_cache(hub: FakeHub, tiny_bundle_dir: Path) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    remote = fetch_manifest(REPO)
    folder = fetch_files(remote, ["encoder.onnx"])
    assert Path(constants.HF_HUB_CACHE) in folder.parents


def test_second_load_uses_the_cache(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    commit = hub.add_commit(REPO, tiny_bundle_dir)
    _, folder = fetch(cache_dir=cache)
    requests = len(hub.log)
    assert fetch(commit, cache_dir=cache)[1] == folder  # a commit hash that is cached needs no request
    assert len(hub.log) == requests

    hub.stop()
    for revision in (None, "main", commit):
        remote, again = fetch(revision, cache_dir=cache)
        assert (remote.revision, again) == (commit, folder)
        assert quality_intercept(again) == make_heads()[0].intercept


def test_server_down_and_cold_cache_is_a_connection_error(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    hub.stop()
    with pytest.raises(HubConnectionError, match=r"hf://contrique-test/tiny@main/contrique\.json.*HF_ENDPOINT"):
        fetch(cache_dir=cache)


# --- revisions --------------------------------------------------------------------------------------


def test_revisions_give_their_own_files(hub: FakeHub, tiny_bundle_dir: Path, bundle_v2: Path, cache: Path) -> None:
    first = hub.add_commit(REPO, tiny_bundle_dir, refs=("main", "v1"))
    second = hub.add_commit(REPO, bundle_v2)  # main moves on; the tag v1 stays
    v1_intercept, v2_intercept = make_heads()[0].intercept, make_heads()[0].intercept + 7.0

    for revision, commit, name, intercept in [
        (None, second, "tiny-test-bundle-v2", v2_intercept),
        ("main", second, "tiny-test-bundle-v2", v2_intercept),
        ("v1", first, "tiny-test-bundle", v1_intercept),
        (first, first, "tiny-test-bundle", v1_intercept),
    ]:
        remote, folder = fetch(revision, cache_dir=cache)
        assert (remote.revision, remote.manifest.name, folder.name) == (commit, name, commit)
        assert quality_intercept(folder) == intercept
    head_file = "heads/quality.json"
    assert (cache.glob(f"*/snapshots/{first}/{head_file}")) and (
        next(cache.glob(f"*/snapshots/{first}/{head_file}")).read_bytes()
        != next(cache.glob(f"*/snapshots/{second}/{head_file}")).read_bytes()
    )


def test_files_come_from_the_pinned_commit_when_the_branch_moves(
    hub: FakeHub, tiny_bundle_dir: Path, bundle_v2: Path, cache: Path
) -> None:
    first = hub.add_commit(REPO, tiny_bundle_dir)
    remote = fetch_manifest(REPO, cache_dir=cache)
    hub.add_commit(REPO, bundle_v2)  # main now points elsewhere
    folder = fetch_files(remote, needed_files(remote.manifest, "fp32", ["quality"]), cache_dir=cache)

    assert folder.name == first
    assert {r.revision for r in hub.log if r.path != "contrique.json"} == {first}
    assert quality_intercept(folder) == make_heads()[0].intercept


# --- offline mode ------------------------------------------------------------------------------------

OFFLINE_MODES = ["env", "import-time", "local_files_only"]


def go_offline(mode: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Switch offline mode on; returns the keyword arguments the fetch calls need for it."""
    if mode == "env":  # set after huggingface_hub was imported: its constant still says online
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    elif mode == "import-time":
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return {"local_files_only": mode == "local_files_only"}


@pytest.mark.parametrize("mode", OFFLINE_MODES)
def test_offline_with_warm_cache(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    commit = hub.add_commit(REPO, tiny_bundle_dir)
    _, folder = fetch(cache_dir=cache)
    requests = len(hub.log)
    kwargs = go_offline(mode, monkeypatch)

    for revision in (None, commit):
        remote, again = fetch(revision, cache_dir=cache, **kwargs)
        assert (remote.revision, again) == (commit, folder)
    assert len(hub.log) == requests
    # a head that was never downloaded is a clear cache miss, not a network call
    with pytest.raises(OfflineCacheMissError, match=r"heads/fr_quality\.json.*not in the Hugging Face cache"):
        fetch(cache_dir=cache, head="fr_quality", **kwargs)
    assert len(hub.log) == requests


@pytest.mark.parametrize("mode", OFFLINE_MODES)
def test_offline_with_cold_cache(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    kwargs = go_offline(mode, monkeypatch)
    with pytest.raises(OfflineCacheMissError, match=r"contrique\.json is not in the Hugging Face cache.*HF_HUB_OFFLINE"):
        fetch(cache_dir=cache, **kwargs)
    assert hub.log == []


# --- errors never leave a bad file in the cache -----------------------------------------------------


def assert_recovers(hub: FakeHub, bundle: Path, cache: Path, rel: str) -> Path:
    """Nothing usable is cached for ``rel``; once the fault is gone, a load downloads it and succeeds."""
    with pytest.raises(OfflineCacheMissError):
        fetch(cache_dir=cache, local_files_only=True)
    hub.faults.clear()
    downloads = hub.requested("GET").count(rel)
    _, folder = fetch(cache_dir=cache)
    assert hub.requested("GET").count(rel) == downloads + 1
    assert (folder / rel).read_bytes() == (bundle / rel).read_bytes()
    assert quality_intercept(folder) == make_heads()[0].intercept
    return folder


def test_unknown_repo_and_revision(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    with pytest.raises(HubNotFoundError, match=r"repository 'contrique-test/nope' was not found.*log in"):
        fetch_manifest("contrique-test/nope", cache_dir=cache)
    with pytest.raises(HubNotFoundError, match=r"revision 'v9' does not exist in 'contrique-test/tiny'"):
        fetch_manifest(REPO, revision="v9", cache_dir=cache)


@pytest.mark.parametrize("rel", ["contrique.json", "encoder.onnx", "heads/quality.json"])
def test_missing_file(hub: FakeHub, tiny_bundle_dir: Path, cache: Path, rel: str) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults[rel] = Fault(status=404)
    with pytest.raises(HubNotFoundError, match=rf"file '{rel}' does not exist in 'contrique-test/tiny'.*incomplete"):
        fetch(cache_dir=cache)
    assert_recovers(hub, tiny_bundle_dir, cache, rel)


@pytest.mark.parametrize("rel", ["contrique.json", "encoder.onnx", "heads/quality.json"])
@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_server_error(hub: FakeHub, tiny_bundle_dir: Path, cache: Path, rel: str, method: str) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults[rel] = Fault(status=500, methods=(method,))
    with pytest.raises(HubConnectionError, match=rf"{rel}: the Hub at .* answered with server error 500"):
        fetch(cache_dir=cache)
    assert_recovers(hub, tiny_bundle_dir, cache, rel)


def test_rate_limit_is_a_connection_error(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults["encoder.onnx"] = Fault(status=429, methods=("GET",))
    with pytest.raises(HubConnectionError, match=r"encoder.onnx: the Hub at .* answered with rate limit \(HTTP 429\)"):
        fetch(cache_dir=cache)
    assert_recovers(hub, tiny_bundle_dir, cache, "encoder.onnx")


def test_download_timeout(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 0.2)
    hub.faults["encoder.onnx"] = Fault(stall=5.0)
    with pytest.raises(HubConnectionError, match=r"encoder\.onnx: could not download from .*ReadTimeout"):
        fetch(cache_dir=cache)
    assert_recovers(hub, tiny_bundle_dir, cache, "encoder.onnx")


SLOW_BYTE_S = 0.2
"""How far apart the slow server sends the bytes of a file: each read is well within HF_HUB_DOWNLOAD_TIMEOUT."""


def serve_encoder_slowly(hub: FakeHub) -> threading.Event:
    """Make ``hub`` send the encoder one byte every :data:`SLOW_BYTE_S` (25 bytes at most, then it hangs up
    itself, so that a test without a deadline fails instead of hanging).

    Returns:
        An event set when the client has closed the connection while the server was still sending.
    """
    hung_up = threading.Event()
    handler = hub.RequestHandlerClass

    class Slow(handler):  # type: ignore[valid-type,misc]
        def _answer(self, status: int, headers: dict[str, str], body: bytes = b"", *,
                    length: int | None = None) -> None:
            if not (self.command == "GET" and status == 200 and self.path.endswith("/encoder.onnx")):
                super()._answer(status, headers, body, length=length)
                return
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body[:25]:
                    self.wfile.write(bytes([byte]))
                    if self.server.stopping.wait(SLOW_BYTE_S):
                        return
            except OSError:  # the client hung up
                hung_up.set()

    hub.RequestHandlerClass = Slow
    return hung_up


def test_a_server_sending_too_slowly_is_cut_off_at_the_deadline(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read gets a byte in time, so only the deadline of the whole file (1 s here) stops the download."""
    commit = hub.add_commit(REPO, tiny_bundle_dir)
    monkeypatch.setenv(DEADLINE_ENV, "1")
    handler = hub.RequestHandlerClass
    hung_up = serve_encoder_slowly(hub)
    threads = set(threading.enumerate())
    start = time.monotonic()
    with pytest.raises(HubConnectionError, match=(
        rf"^hf://contrique-test/tiny@{commit}/encoder\.onnx: the download did not finish within its deadline of 1 s "
        r"\(CONTRIQUE_HUB_DOWNLOAD_DEADLINE\), so it was stopped and nothing was cached; the Hub at http://127\.0\.0\.1:"
        r"\d+ sends too slowly or is overloaded: try again later, or on a slow connection raise "
        r"CONTRIQUE_HUB_DOWNLOAD_DEADLINE \(seconds per file, default 1800\)$")):
        fetch(cache_dir=cache)
    assert 1.0 <= time.monotonic() - start < 1.0 + 10 * SLOW_BYTE_S  # not after the 25 bytes the server would send
    # the transfer itself stopped: the client closed the connection while the server was sending, and no new
    # thread is left but the server's and tqdm's progress-bar monitor (the download ran in this thread)
    assert hung_up.wait(10 * SLOW_BYTE_S)
    assert [t.name for t in threading.enumerate()
            if t not in threads and "process_request" not in t.name and t.name != "tqdm_monitor"] == []
    encoder = (tiny_bundle_dir / "encoder.onnx").read_bytes()
    assert not list(cache.rglob("*.incomplete"))
    assert [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size and encoder.startswith(p.read_bytes())] == []
    # huggingface_hub's client keeps the hook, which does nothing outside contrique-infer's own downloads
    head = hf_hub_download(REPO, "heads/quality.json", cache_dir=cache.parent / "plain")
    assert Path(head).read_bytes() == (tiny_bundle_dir / "heads" / "quality.json").read_bytes()
    hub.RequestHandlerClass = handler
    assert_recovers(hub, tiny_bundle_dir, cache, "encoder.onnx")  # a download well within the same 1 s deadline


def test_a_server_asking_to_retry_after_the_deadline_is_not_waited_for(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """huggingface_hub would sleep as long as ``Retry-After`` says, five times over; past the deadline it does not."""
    commit = hub.add_commit(REPO, tiny_bundle_dir)
    monkeypatch.setenv(DEADLINE_ENV, "60")
    handler = hub.RequestHandlerClass

    class RetryLater(handler):  # type: ignore[valid-type,misc]
        def _answer(self, status: int, headers: dict[str, str], body: bytes = b"", *,
                    length: int | None = None) -> None:
            super()._answer(status, {**headers, "Retry-After": "3600"} if status == 429 else headers, body,
                            length=length)

    hub.RequestHandlerClass = RetryLater
    hub.faults["encoder.onnx"] = Fault(status=429, methods=("GET",))
    with pytest.raises(HubConnectionError, match=(
        rf"^hf://contrique-test/tiny@{commit}/encoder\.onnx: the server asked to wait 3600 s before retrying, "
        r"beyond the download's deadline of 60 s \(CONTRIQUE_HUB_DOWNLOAD_DEADLINE\), so it was stopped")):
        fetch(cache_dir=cache)
    assert hub.requested("GET").count("encoder.onnx") == 1
    hub.RequestHandlerClass = handler
    assert_recovers(hub, tiny_bundle_dir, cache, "encoder.onnx")


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "1e999", "10s"])
def test_an_invalid_deadline_setting_is_refused_before_any_request(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    monkeypatch.setenv(DEADLINE_ENV, value)
    with pytest.raises(HubError, match=(
        rf"^CONTRIQUE_HUB_DOWNLOAD_DEADLINE={re.escape(repr(value))} is not a number of seconds above 0; set it to the "
        r"longest time one bundle file may take to download from the Hub \(default 1800\), or unset it$")):
        fetch_manifest(REPO, cache_dir=cache)
    assert hub.log == []


def test_the_deadline_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEADLINE_ENV, raising=False)
    assert deadline_seconds() == DEFAULT_DEADLINE == 1800
    for value, seconds in [(" ", DEFAULT_DEADLINE), (" 2.5 ", 2.5), ("1e3", 1000)]:
        monkeypatch.setenv(DEADLINE_ENV, value)
        assert deadline_seconds() == seconds


@pytest.mark.parametrize("rel", ["encoder.onnx", "heads/quality.json"])
def test_transfer_cut_short(hub: FakeHub, tiny_bundle_dir: Path, cache: Path, rel: str) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults[rel] = Fault(truncate=True, announce_full=True)
    with pytest.raises(HubConnectionError, match=rf"{rel}: the download from .* was incomplete \(Consistency check"):
        fetch(cache_dir=cache)
    assert_recovers(hub, tiny_bundle_dir, cache, rel)


@pytest.mark.parametrize("symlinks", [True, False], ids=["symlinks", "copies"])
@pytest.mark.parametrize(
    ("rel", "fault", "reason"),
    [
        ("encoder.onnx", Fault(corrupt=True), "sha256 .* differs"),
        ("heads/quality.json", Fault(corrupt=True), "sha256 .* differs"),
    ],
    ids=["corrupt-lfs", "corrupt-git"],
)
def test_hash_mismatch_deletes_the_bad_copy(
    hub: FakeHub,
    tiny_bundle_dir: Path,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    rel: str,
    fault: Fault,
    reason: str,
    symlinks: bool,
) -> None:
    """The server sends bytes that differ from the manifest while announcing a consistent file."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_SYMLINKS", not symlinks)  # not symlinks: as on Windows
    commit = hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults[rel] = fault
    with pytest.raises(HashMismatchError, match=rf"hf://contrique-test/tiny@{commit}/{rel}: {reason}.*deleted"):
        fetch(cache_dir=cache)
    assert cached_files_with(cache, fault.served((tiny_bundle_dir / rel).read_bytes())) == []
    folder = assert_recovers(hub, tiny_bundle_dir, cache, rel)
    assert (folder / rel).is_symlink() is symlinks


@pytest.mark.parametrize("rel", ["encoder.onnx", "heads/quality.json"])
@pytest.mark.parametrize("fault", [Fault(truncate=True, announce_full=False), Fault(grow=50_000_000)],
                         ids=["shorter", "50-MB-longer"])
def test_a_file_announced_at_another_size_is_refused_before_its_download(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, rel: str, fault: Fault
) -> None:
    """A server announcing another size than the manifest's gets no GET: nothing is downloaded, nothing cached."""
    commit = hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults[rel] = fault
    size = (tiny_bundle_dir / rel).stat().st_size
    announced = len(fault.served((tiny_bundle_dir / rel).read_bytes()))
    with pytest.raises(HashMismatchError, match=rf"hf://contrique-test/tiny@{commit}/{rel}: the server announces "
                       rf"{announced} bytes where the manifest lists {size}; nothing was downloaded"):
        fetch(cache_dir=cache)
    assert hub.requested("HEAD").count(rel) >= 1
    assert rel not in hub.requested("GET")
    assert cached_files_with(cache, fault.served((tiny_bundle_dir / rel).read_bytes())) == []
    assert_recovers(hub, tiny_bundle_dir, cache, rel)


def test_a_cached_file_costs_no_request(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    """The size check asks only for files not cached yet: files of a pinned commit load without a request."""
    hub.add_commit(REPO, tiny_bundle_dir)
    remote, _ = fetch(cache_dir=cache)
    asked = len(hub.log)
    fetch_files(remote, ["encoder.onnx", "heads/quality.json"], cache_dir=cache)
    assert hub.log[asked:] == []


def test_broken_manifest_is_not_kept(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults["contrique.json"] = Fault(truncate=True, announce_full=False)
    with pytest.raises(ManifestError, match="cannot be read as JSON"):
        fetch(cache_dir=cache)
    assert_recovers(hub, tiny_bundle_dir, cache, "contrique.json")


@pytest.mark.parametrize("rel", ["contrique.json", "heads/quality.json", "encoder.onnx"])
def test_a_server_whose_etag_names_a_file_outside_the_cache_never_gets_it_read_or_deleted(
    hub: FakeHub, tiny_bundle_dir: Path, cache: Path, tmp_path: Path, rel: str
) -> None:
    # huggingface_hub makes the ETag the blob's path: an absolute one points the snapshot at any file.
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    hub.add_commit(REPO, tiny_bundle_dir)
    hub.faults[rel] = Fault(etag=str(victim))
    refused = "resolves outside the bundle folder; refusing to read it; this server is not"
    with pytest.raises(HubError, match=refused):
        remote = fetch_manifest(REPO, cache_dir=cache)
        fetch_files(remote, [rel], cache_dir=cache)
    assert victim.read_text() == "keep me"
    assert not [p for p in cache.rglob(Path(rel).name) if p.is_symlink()]  # the bad snapshot entry is gone
    assert_recovers(hub, tiny_bundle_dir, cache, rel)


@pytest.mark.parametrize("revision", ["../../../refs-outside", "main/../../x", "-rf", "a b"])
def test_revisions_that_are_no_names_are_refused_before_any_request(hub: FakeHub, cache: Path,
                                                                   revision: str) -> None:
    with pytest.raises(HubError, match="is not a branch, tag or commit name"):
        fetch_manifest(REPO, revision=revision, cache_dir=cache)
    assert hub.log == []


def test_fetch_files_refuses_unlisted_files(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    remote = fetch_manifest(REPO, cache_dir=cache)
    with pytest.raises(BundleFileError, match=r"notes\.txt: is not listed in the manifest"):
        fetch_files(remote, ["notes.txt"], cache_dir=cache)


def test_snapshot_links_may_only_point_into_the_blob_stores(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    """A cache snapshot's files are symlinks into blobs/; a link anywhere else is still refused."""
    repo = tmp_path / "hub" / "models--org--name"
    snapshot = repo / "snapshots" / ("0" * 40)
    manifest = Manifest.load(tiny_bundle_dir)
    for store in (repo / "blobs", tmp_path / "hub" / "blobs" / "ab", tmp_path / "elsewhere"):
        store.mkdir(parents=True)
        shutil.copy(tiny_bundle_dir / "encoder.onnx", store / "blob")
        shutil.rmtree(snapshot, ignore_errors=True)
        snapshot.mkdir(parents=True)
        try:
            (snapshot / "encoder.onnx").symlink_to(store / "blob")
        except OSError:
            pytest.skip("this file system does not support symlinks")
        if store.name == "elsewhere":
            with pytest.raises(BundleFileError, match="outside the bundle folder"):
                verify_file(snapshot, manifest, "encoder.onnx")
        else:
            assert verify_file(snapshot, manifest, "encoder.onnx") == (store / "blob").resolve()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("org/name", True),
        ("contrique-test/tiny.v2_b", True),
        ("name", False),
        ("org/sub/name", False),
        ("./bundle", False),
        ("/abs/path", False),
        ("org/", False),
        ("org--x/name", False),
        ("C:\\models\\bundle", False),
        ("models/bundle.git", False),
    ],
)
def test_is_repo_id(name: str, expected: bool) -> None:
    assert is_repo_id(name) is expected


def test_scorer_from_pretrained_through_the_hub(hub: FakeHub, tiny_bundle_dir: Path, cache: Path) -> None:
    import numpy as np

    from contrique_infer.scorer import QualityScorer

    commit = hub.add_commit(REPO, tiny_bundle_dir)
    image = np.random.default_rng(5).integers(0, 256, (37, 52, 3), dtype=np.uint8)
    remote_scorer = QualityScorer.from_pretrained(REPO, head="quality", cache_dir=cache)
    local_scorer = QualityScorer.from_pretrained(tiny_bundle_dir, head="quality")

    assert set(hub.requested()) == set(NEEDED)
    assert remote_scorer.bundle_dir == cache / f"models--contrique-test--tiny/snapshots/{commit}"
    assert remote_scorer.score(image) == local_scorer.score(image)
    assert np.array_equal(remote_scorer.features(image), local_scorer.features(image))
    hub.stop()  # a second scorer comes from the cache
    offline_scorer = QualityScorer.from_pretrained(REPO, head="quality", cache_dir=cache, local_files_only=True)
    assert offline_scorer.score(image) == local_scorer.score(image)
