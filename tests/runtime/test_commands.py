"""Tests of contrique_infer.commands: what every command shares (argument parsing, error lines)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from broken_stderr import broken_stderrs, broken_stdouts

from contrique_infer import cli
from contrique_infer.commands import (
    EXIT_USAGE,
    StdoutError,
    fail,
    parse,
    run_quietly,
    run_terminable,
    write_stdout,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prog")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run").add_argument("--size", type=int)
    return parser


@broken_stderrs
def test_a_usage_error_on_a_stderr_that_cannot_be_written_leaves_stdout_empty(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stderr: object) -> None:
    """A usage error's lines (argparse's own, and those of :func:`fail` with a parser) are best-effort: with
    stderr closed (``2>&-``) argparse printed the usage line on stdout, where a command's results go
    (``contrique-score 2>&-`` and every other command alike); the exit code is 2 either way."""
    monkeypatch.setattr(sys, "stderr", stderr)
    assert parse(_parser(), ["run", "--size", "big"]) == EXIT_USAGE  # argparse's own usage error
    assert parse(_parser(), ["walk"]) == EXIT_USAGE
    assert fail("prog", "--size must be small", EXIT_USAGE, _parser()) == EXIT_USAGE
    assert cli.main([]) == EXIT_USAGE  # contrique-score: no image given
    assert cli.main(["--format", "pdf"]) == EXIT_USAGE
    monkeypatch.undo()
    assert capsys.readouterr() == ("", "")


def test_a_usage_error_is_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse(_parser(), ["run", "--size", "big"]) == EXIT_USAGE
    assert fail("prog", "--size must be small", EXIT_USAGE, _parser()) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == "" and err == ("usage: prog run [-h] [--size SIZE]\nprog run: error: argument --size: invalid int "
                                 "value: 'big'\nusage: prog [-h] {run} ...\nprog: error: --size must be small\n")
    assert parse(_parser(), ["--help"]) == 0  # help goes to stdout, as asked
    assert capsys.readouterr().out.startswith("usage: prog")


@broken_stdouts
def test_a_stdout_that_fails_is_a_stdout_error_and_ends_a_command_quietly(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdout: object) -> None:
    """Every command writes its results through :func:`write_stdout`: a full (``>/dev/full``) or closed
    (``>&-``) stdout is a :class:`StdoutError`, which :func:`run_quietly` reports in one line, exit 1."""
    monkeypatch.setattr(sys, "stdout", stdout)
    reason = "No space left on device" if stdout is not None else "it is closed"
    with pytest.raises(StdoutError, match=rf"^\[Errno \d+\] cannot write the results to stdout \({reason}\)$"):
        write_stdout("results\n")
    assert run_quietly("prog", lambda: write_stdout("results\n") or 0) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err == f"prog: error: cannot write the results to stdout ({reason})\n"


class _ClosedPipe:
    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        pass


def test_a_closed_pipe_ends_a_command_with_141_and_nothing_said(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())  # | head: the reader went away
    with pytest.raises(BrokenPipeError):
        write_stdout("results\n")
    assert run_quietly("prog", lambda: write_stdout("results\n") or 0) == 141
    monkeypatch.undo()
    assert capsys.readouterr() == ("", "")


def test_every_command_gives_a_closed_stderr_devnull(tmp_path: Path) -> None:
    """2>&-: fd 2 is free, and the first file a command opens (a checkpoint, a bundle's graph) would take
    it and receive what C libraries print to stderr; run_quietly, which every command runs in, opens
    /dev/null there first (only contrique-score did)."""
    seen = tmp_path / "fd2.txt"
    script = ("import os, sys\nfrom contrique_infer.commands import run_quietly\n"
              "def body():\n"
              f"    with open({str(seen)!r}, 'w') as fh:\n"
              "        fh.write(f'{fh.fileno()} ' + os.readlink('/proc/self/fd/2'))\n"
              "    return 0\n"
              "sys.exit(run_quietly('prog', body))\n")
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60, preexec_fn=lambda: os.close(2))
    fd, target = seen.read_text().split(" ", 1)
    assert proc.returncode == 0 and int(fd) != 2 and target == os.devnull


def test_sigterm_and_sighup_unwind_the_command_and_an_ignored_sighup_stays_ignored(
        capsys: pytest.CaptureFixture[str]) -> None:
    """SIGHUP (an SSH session that dropped) ended a command at once, without the cleanup Ctrl-C and SIGTERM
    get: a json placeholder left empty, a report page not written. Under nohup it is ignored, and stays so."""
    unwound = []

    def body(signum: signal.Signals) -> int:
        try:
            os.kill(os.getpid(), signum)
            return 0  # not reached while the signal is handled: it raises at the next bytecode
        finally:
            unwound.append(signum)

    inherited = signal.getsignal(signal.SIGHUP)  # ignored where the tests run under nohup
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a terminal's shell starts a command
    try:
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
        assert run_terminable("prog", lambda: body(signal.SIGTERM)) == 143
        assert run_terminable("prog", lambda: body(signal.SIGHUP)) == 129
        assert unwound == [signal.SIGTERM, signal.SIGHUP]
        assert capsys.readouterr().err == "prog: terminated\nprog: hung up (its terminal was closed)\n"
        assert {s: signal.getsignal(s) for s in previous} == previous  # restored
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts it
        assert run_terminable("prog", lambda: body(signal.SIGHUP)) == 0
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, inherited)
    assert capsys.readouterr().err == ""
