"""An overall deadline for downloading one Hub file, which ``huggingface_hub`` itself does not have.

``huggingface_hub`` bounds each read of a download by ``HF_HUB_DOWNLOAD_TIMEOUT``, so a server that
sends one byte every few seconds keeps a download alive for ever; running the download in a thread
and abandoning it at a deadline would leave that thread downloading. Instead, :func:`watch` adds a
response hook to the HTTP client that ``huggingface_hub`` shares (``get_session()``, an
``httpx2.Client``: the hook goes on through its public ``event_hooks``, so a client made by the
user's own ``set_client_factory`` keeps its settings). Within the ``with`` block, and only there (a
context variable: other threads and other users of ``huggingface_hub`` are not affected), the hook
checks the clock when each answer arrives and on every chunk of its body, in the thread that
downloads. Past the deadline it raises :class:`DeadlineReached` there: the response is closed, its
connection dropped, and ``huggingface_hub`` deletes its temporary file as after any failed
transfer. An answer that asks to retry later (``Retry-After``) than the deadline allows ends the
download at once, instead of sleeping that long.

The clock is read only when an answer or a chunk of one arrives: a stalled read still ends by
``HF_HUB_DOWNLOAD_TIMEOUT`` and a back-off wait of ``huggingface_hub``'s (8 s at most) is not cut
short, so a download stops at most about that long after its deadline; the header lines of one
answer are timed per read only. Not covered: transfers that ``huggingface_hub`` hands to ``hf_xet``
(Xet storage), which do not go through this client, and the rest of one file's requests after
``huggingface_hub`` replaces its client (``close_session`` after a connection error): the next
:func:`watch` arms the new one.
"""

from __future__ import annotations

import datetime
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx2

from .errors import HubError

DEADLINE_ENV = "CONTRIQUE_HUB_DOWNLOAD_DEADLINE"
"""The environment variable giving the deadline of one Hub file download, in seconds."""
DEFAULT_DEADLINE = 1800.0
"""30 minutes per file: the official model's 94 MB fp32 encoder at 0.42 Mbit/s."""
_RETRIED = (408, 429, 500, 502, 503, 504)
"""The answers after which ``huggingface_hub`` waits (``Retry-After`` seconds, if given) and tries again."""

_AT: ContextVar[float | None] = ContextVar("contrique_download_deadline", default=None)
_ARMING = threading.Lock()


class DeadlineReached(Exception):
    """A download went on past its deadline; the message says how. Internal: :mod:`contrique_infer.hub`
    turns it into a :class:`~contrique_infer.errors.HubConnectionError` naming the file."""


def deadline_seconds() -> float:
    """The deadline of one Hub file download: ``CONTRIQUE_HUB_DOWNLOAD_DEADLINE``, or 1800 s if unset or empty.

    Returns:
        Seconds, a finite number above 0.

    Raises:
        HubError: The variable holds anything else.
    """
    value = os.environ.get(DEADLINE_ENV, "").strip()
    if not value:
        return DEFAULT_DEADLINE
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise HubError(f"{DEADLINE_ENV}={value!r} is not a number of seconds above 0; set it to the longest time "
                       f"one bundle file may take to download from the Hub (default {DEFAULT_DEADLINE:g}), or unset it")
    return seconds


@contextmanager
def watch(seconds: float) -> Iterator[None]:
    """Stop every transfer ``huggingface_hub``'s shared client makes in this block once ``seconds`` have passed.

    Args:
        seconds: The time the whole block may take (all its requests, retries and waits included).

    A shared client that is not an ``httpx2.Client`` (a user's ``set_client_factory`` of another
    kind) is not watched: its own timeouts apply.

    Raises:
        DeadlineReached: From the block's ``huggingface_hub`` call, when the deadline passed.
    """
    from huggingface_hub.utils import get_session

    client = get_session()
    if not isinstance(client, httpx2.Client):  # a client factory of the user's of another kind: not watched
        yield
        return
    with _ARMING:  # once per client; huggingface_hub makes a new one after close_session()
        if _on_response not in client.event_hooks["response"]:
            client.event_hooks["response"] = [*client.event_hooks["response"], _on_response]
    token = _AT.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _AT.reset(token)


def _on_response(response: httpx2.Response) -> None:
    """The client's response hook: within :func:`watch`, check the deadline now and on each chunk of the body."""
    at = _AT.get()
    if at is None:
        return
    _check(at)
    wait = response.headers.get("Retry-After", "").strip()
    if response.status_code in _RETRIED and wait.isdigit() and time.monotonic() + int(wait) > at:
        raise DeadlineReached(f"the server asked to wait {wait} s before retrying, beyond the download's deadline")
    response.stream = _DeadlineStream(response.stream, at)


def _check(at: float) -> None:
    """Raise :class:`DeadlineReached` if the monotonic clock is past ``at``."""
    if time.monotonic() > at:
        raise DeadlineReached("the download did not finish within its deadline")


class _DeadlineStream(httpx2.SyncByteStream):
    """A response body that checks the deadline on every chunk it receives."""

    def __init__(self, stream: httpx2.SyncByteStream, at: float) -> None:
        self._stream = stream
        self._at = at

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            _check(self._at)
            yield chunk

    def close(self) -> None:
        self._stream.close()

    @property
    def elapsed(self) -> datetime.timedelta | None:
        """The wrapped stream's ``elapsed``, which ``Response.elapsed`` reads from its stream."""
        return getattr(self._stream, "elapsed", None)
