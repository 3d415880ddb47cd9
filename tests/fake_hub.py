"""A real HTTP server on 127.0.0.1 that serves model repositories the way the Hugging Face Hub does.

``huggingface_hub.hf_hub_download`` (2.x) talks to two endpoints, and this server implements both
as the Hub does:

- ``HEAD/GET {endpoint}/{org}/{name}/resolve/{revision}/{path}``: the revision (branch, tag or
  commit hash, URL-quoted) resolves to a commit, sent back in ``X-Repo-Commit``. Small files
  (here: anything but ``*.onnx``) are answered directly, 200 with ``ETag`` (the git blob sha1)
  and ``Content-Length``. Large files (``*.onnx``, stored with LFS on the Hub) are answered with a
  302 redirect to a CDN URL on another host (``localhost`` instead of ``127.0.0.1``, so the
  client stops at the redirect as it does for the real CDN) carrying ``X-Linked-Etag`` (the
  sha256) and ``X-Linked-Size``.
- ``GET http://localhost:{port}/cdn/{org}/{name}/{commit}/{path}``: the LFS file's bytes.

Errors carry the Hub's ``X-Error-Code``: ``RepoNotFound`` (401), ``RevisionNotFound`` (404),
``EntryNotFound`` (404, with ``X-Repo-Commit``). Faults can be injected per file
(:class:`Fault`): an HTTP status, a truncated or corrupted body, or a stalled answer. Every
request is logged (:attr:`FakeHub.log`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote

HUB_REPO = "contrique-test/tiny"
"""The repository id tests publish on the fake Hub."""
_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)")
_CDN = re.compile(r"/cdn/(?P<repo>[^/]+/[^/]+)/(?P<commit>[0-9a-f]{40})/(?P<path>.+)")


@dataclass
class Fault:
    """What goes wrong when a file is requested.

    Attributes:
        status: Answer with this HTTP status (404 is sent as the Hub's ``EntryNotFound``).
        methods: The request methods the fault applies to (``HEAD`` is the metadata call).
        truncate: Serve only the first half of the bytes.
        announce_full: With ``truncate``: the metadata still announces the full file (a transfer
            cut short); otherwise the server consistently serves the truncated file.
        corrupt: Serve the bytes with one byte flipped (same size), announcing the true etag.
        stall: Seconds to wait before answering a GET (then close without answering).
        etag: Send this ``ETag`` instead of the file's (a hostile server: the client makes it a
            path in its cache).
        grow: Serve this many zero bytes after the file's, and announce that size.
    """

    status: int | None = None
    methods: tuple[str, ...] = ("HEAD", "GET")
    truncate: bool = False
    announce_full: bool = True
    corrupt: bool = False
    stall: float = 0.0
    etag: str | None = None
    grow: int = 0

    def served(self, data: bytes) -> bytes:
        """The bytes a GET answers with, for a file whose true bytes are ``data``."""
        if self.truncate:
            return data[: len(data) // 2]
        if self.corrupt:
            middle = len(data) // 2
            return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        return data + bytes(self.grow)


class Request(NamedTuple):
    """One logged request: method, host name, and the repo, revision and file it asked for."""

    method: str
    host: str
    repo_id: str
    revision: str
    path: str


@dataclass
class _Repo:
    commits: dict[str, dict[str, bytes]]
    refs: dict[str, str]


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file's bytes (the Hub's ``ETag`` for files not stored with LFS)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub(ThreadingHTTPServer):
    """The server: :meth:`start` it, point ``HF_ENDPOINT`` at :attr:`endpoint`, :meth:`stop` it."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos: dict[str, _Repo] = {}
        self.faults: dict[str, Fault] = {}
        self.log: list[Request] = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="fake-hub", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_commit(self, repo_id: str, folder: Path, *, refs: tuple[str, ...] = ("main",)) -> str:
        """Commit every file under ``folder`` to ``repo_id``, point ``refs`` at it, return its hash."""
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        repo = self.repos.setdefault(repo_id, _Repo({}, {}))
        listing = "".join(f"{name}\0{hashlib.sha256(data).hexdigest()}\n" for name, data in files.items())
        commit = hashlib.sha1(f"{repo_id}\n{len(repo.commits)}\n{listing}".encode()).hexdigest()
        repo.commits[commit] = files
        for ref in refs:
            repo.refs[ref] = commit
        return commit

    def requested(self, method: str | None = None) -> list[str]:
        """The files asked for so far (optionally only by one method), in order."""
        return [r.path for r in self.log if method is None or r.method == method]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: later connections are refused, stalled answers end."""
        self.stopping.set()
        if self._thread.is_alive():
            self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver signature
        """Clients that gave up (timeouts) close their socket: not an error of the server."""


class _Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        """Quiet: requests are recorded in ``server.log`` instead."""

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self._serve()

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    # --- routing ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        path = self.path.split("?")[0]
        if match := _CDN.fullmatch(path):
            repo_id, revision, rel = match["repo"], match["commit"], unquote(match["path"])
            cdn = True
        elif match := _RESOLVE.fullmatch(path):
            repo_id, revision, rel = match["repo"], unquote(match["revision"]), unquote(match["path"])
            cdn = False
        else:
            self._answer(404, {}, b"no such endpoint")
            return
        self.server.log.append(Request(self.command, host, repo_id, revision, rel))

        repo = self.server.repos.get(repo_id)
        if repo is None:
            self._answer(401, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            return
        commit = repo.refs.get(revision, revision if revision in repo.commits else None)
        if commit is None:
            self._answer(404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"})
            return
        fault = self.server.faults.get(rel, Fault())
        data = repo.commits[commit].get(rel)
        applies = self.command in fault.methods
        if data is None or (applies and fault.status == 404):
            self._answer(
                404,
                {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found", "X-Repo-Commit": commit},
            )
            return
        if applies and fault.status is not None:
            self._answer(fault.status, {"X-Repo-Commit": commit}, b"injected server error")
            return
        if applies and fault.stall and self.command == "GET":
            self.server.stopping.wait(fault.stall)
            self.close_connection = True
            return

        served = fault.served(data) if applies else data
        announced = data if (fault.corrupt or (fault.truncate and fault.announce_full)) else served
        self._file(repo_id, commit, rel, announced, served, cdn, fault.etag if applies else None)

    def _file(self, repo_id: str, commit: str, rel: str, announced: bytes, served: bytes, cdn: bool,
              etag: str | None = None) -> None:
        lfs = rel.endswith(".onnx")
        if lfs and not cdn:  # the Hub redirects LFS files to its CDN, with the metadata on the redirect
            sha256 = hashlib.sha256(announced).hexdigest()
            location = f"http://localhost:{self.server.port}/cdn/{repo_id}/{commit}/{quote(rel)}"
            headers = {
                "Location": location,
                "X-Repo-Commit": commit,
                "ETag": f'"{git_blob_sha1(announced)}"',
                "X-Linked-Etag": f'"{etag or sha256}"',
                "X-Linked-Size": str(len(announced)),
            }
            self._answer(302, headers)
            return
        etag = etag or (hashlib.sha256(announced).hexdigest() if lfs else git_blob_sha1(announced))
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
        if self.command == "HEAD":
            self._answer(200, headers, length=len(announced))
        else:
            self._answer(200, headers, served)

    def _answer(self, status: int, headers: dict[str, str], body: bytes = b"", *, length: int | None = None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
