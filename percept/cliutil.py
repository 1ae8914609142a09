"""What every ``percept`` command shares: one error style, progress bars, tables and safe output.

* Errors: :func:`run_command` runs a command handler and turns a :class:`~percept.errors.PerceptError`,
  ``OSError`` or ``ValueError`` into one line ``percept: error: ...`` on stderr (exit code
  :data:`EXIT_ERROR`); ``debug=True`` prints the traceback first. A closed stdout
  (``percept log cat ... | head -1``) ends the command quietly (:data:`EXIT_PIPE`).
* Output: :func:`out` writes one line to stdout (flushed, so a closed pipe is noticed at once);
  :func:`table` formats rows as aligned text columns.
* Progress: :func:`progress` shows a rich progress bar on stderr while a long offline command
  runs, only when stderr is a terminal and rich is installed; otherwise it does nothing, so piped
  or JSON output never carries one. Library functions take the callback it yields as an optional
  ``progress(done, total)`` argument (:data:`ProgressCallback`).
* Help: :class:`Parser` (the class of every ``percept`` parser) shows each option's default and
  keeps descriptions as written; :func:`add_commands` adds a titled ``COMMAND`` sub-command group.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import os
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TextIO

from percept.errors import PerceptError

PROG = "percept"
EXIT_ERROR = 2
"""Exit code of a command that refused its input (as argparse's usage errors)."""
EXIT_PIPE = 141
"""Exit code when stdout was closed by the reader (as a tool killed by SIGPIPE: 128 + 13)."""
EXIT_INTERRUPTED = 130

ProgressCallback = Callable[[float, float | None], None]
"""``progress(done, total)``: work done so far and the total (None: unknown), in one unit."""


# -- output and errors -------------------------------------------------------------------------
def out(text: str = "") -> None:
    """Write ``text`` and a newline to stdout, flushed (a closed pipe raises BrokenPipeError here)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def error_text(exc: BaseException) -> str:
    """One line describing ``exc``: ``FILE: reason`` for an OSError, else its message."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        text = f"{' -> '.join(names)}: {exc.strerror}" if names else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def error(message: str | BaseException, stream: TextIO | None = None) -> int:
    """Write ``percept: error: MESSAGE`` (one line) to stderr; return :data:`EXIT_ERROR`."""
    text = error_text(message) if isinstance(message, BaseException) else " ".join(message.split())
    target = stream or sys.stderr
    target.write(f"{PROG}: error: {text}\n")
    target.flush()
    return EXIT_ERROR


def warn(message: str, stream: TextIO | None = None) -> None:
    """Write ``percept: warning: MESSAGE`` to stderr."""
    target = stream or sys.stderr
    target.write(f"{PROG}: warning: {' '.join(message.split())}\n")
    target.flush()


def detach_stdout() -> None:
    """Point file descriptor 1 at /dev/null (after a BrokenPipeError, as Python's docs advise),
    so the interpreter's final flush of stdout cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured by a test)
        pass


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, *,
                debug: bool = False) -> int:
    """``func(args)`` as a command: its exit code, or one error line and :data:`EXIT_ERROR`."""
    try:
        return int(func(args) or 0)
    except BrokenPipeError:
        detach_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (PerceptError, OSError, ValueError) as exc:
        if debug:
            traceback.print_exc()
        return error(exc)


# -- tables ------------------------------------------------------------------------------------
def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, digits: int = 1) -> list[str]:
    """Rows as aligned text lines under ``headers``: numbers right-aligned, floats with ``digits``
    decimals, text left-aligned, two spaces between columns."""
    data = [list(r) for r in rows]
    cells = [[_cell(v, digits) for v in r] for r in data]
    ncol = len(headers)
    numeric = [all(isinstance(r[c], int | float) and not isinstance(r[c], bool)
                   for r in data if c < len(r) and r[c] is not None) and any(c < len(r) for r in data)
               for c in range(ncol)]
    widths = [max([len(headers[c]), *(len(r[c]) for r in cells if c < len(r))]) for c in range(ncol)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[c]) if numeric[c] else v.ljust(widths[c]) for c, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    return [line(list(headers)), *(line(r + [""] * (ncol - len(r))) for r in cells)]


# -- progress ----------------------------------------------------------------------------------
class ProgressUpdate(Protocol):
    """What :func:`progress` yields: a :data:`ProgressCallback` that also takes a ``status`` text
    (shown after the count, e.g. ``"120 msgs playing"``)."""

    def __call__(self, done: float, total: float | None = None, *, status: str | None = None) -> None: ...


def _noop(done: float, total: float | None = None, *, status: str | None = None) -> None:
    """A progress callback that shows nothing."""


class _Task:
    """One rich task, updated at most every ``min_interval_s`` (the last values on :meth:`flush`)."""

    def __init__(self, bar: Any, description: str, total: float | None, unit: str,
                 min_interval_s: float = 0.05) -> None:
        self.bar, self.unit, self.min_interval_s = bar, unit, min_interval_s
        self.done, self.total, self.status = 0.0, total, ""
        self.task = bar.add_task(description, total=total, count=self._count())
        self._last = 0.0

    def _count(self) -> str:
        shown = f"{self.done:.0f}/{self.total:.0f}" if self.total is not None else f"{self.done:.0f}"
        return " ".join(t for t in (shown, self.unit, self.status) if t)

    def __call__(self, done: float, total: float | None = None, *, status: str | None = None) -> None:
        self.done = done
        self.total = self.total if total is None else total
        self.status = self.status if status is None else status
        now = time.monotonic()
        if now - self._last >= self.min_interval_s or (self.total is not None and done >= self.total):
            self.flush()
            self._last = now

    def flush(self) -> None:
        self.bar.update(self.task, completed=self.done, total=self.total, count=self._count())


def _rich_progress(stream: TextIO) -> Any:
    """A rich Progress on ``stream`` (None when rich is not installed); while it runs, what is
    written to ``sys.stderr`` (when that is ``stream``) is printed above the bar."""
    try:
        from rich import progress as rp
        from rich.console import Console
    except ImportError:
        return None
    columns = (rp.TextColumn("{task.description}"), rp.BarColumn(), rp.TaskProgressColumn(),
               rp.TextColumn("{task.fields[count]}"), rp.TimeElapsedColumn(), rp.TextColumn("eta"),
               rp.TimeRemainingColumn())
    return rp.Progress(*columns, console=Console(file=stream, force_terminal=True), redirect_stdout=False,
                       redirect_stderr=stream is sys.stderr, transient=False)


@contextlib.contextmanager
def _logs_above(stream: TextIO) -> Iterator[None]:
    """While a bar is live, send log handlers that write to ``stream`` through ``sys.stderr``
    (rich's proxy, which prints above the bar); restore them afterwards."""
    moved = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
            moved.append(handler)
            handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler in moved:
            handler.setStream(stream)


@contextlib.contextmanager
def progress(description: str, total: float | None = None, *, unit: str = "",
             stream: TextIO | None = None) -> Iterator[ProgressUpdate]:
    """A progress bar for the ``with`` block; yields ``update(done, total=None, *, status=None)``.

    Shown on ``stream`` (default stderr) only when it is a terminal and rich is importable;
    otherwise the callback does nothing. ``unit`` names what is counted (``"frames"``); a
    ``total`` given to ``update`` replaces the first. Redrawn at most 20 times a second.
    """
    target = stream or sys.stderr
    bar = _rich_progress(target) if _isatty(target) else None
    if bar is None:
        yield _noop
        return
    redirected = target is sys.stderr  # then rich proxies sys.stderr while the bar is live
    with bar, _logs_above(target) if redirected else contextlib.nullcontext():
        task = _Task(bar, description, total, unit)
        try:
            yield task
        finally:
            task.flush()


def track(items: Iterable[Any], description: str, total: float | None = None, *,
          unit: str = "", stream: TextIO | None = None) -> Iterator[Any]:
    """Yield ``items``, advancing a :func:`progress` bar by one per item."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(description, total, unit=unit, stream=stream) as update:
        for i, item in enumerate(items, start=1):
            yield item
            update(i)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# -- parsers -----------------------------------------------------------------------------------
def _no_default(default: Any) -> bool:
    """Whether an option's default says nothing worth showing (None, a flag's False, empty list)."""
    return default is None or default is False or default is argparse.SUPPRESS or (
        isinstance(default, list | tuple) and not default)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions wrapped by line (indented lines kept as written, for examples); every option's
    help ends with its default (when it has one)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            if not line.strip() or line[:1].isspace():
                lines.append(indent + line)
            else:
                lines += textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent)
        return "\n".join(lines)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or "(default" in text or _no_default(action.default)
                or isinstance(action, argparse._HelpAction | argparse._VersionAction)):
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        return text + " (default: %(default)s)"

    def _expand_help(self, action: argparse.Action) -> str:
        if isinstance(action.default, list | tuple):
            action = copy.copy(action)
            action.default = " ".join(str(v) for v in action.default)
        return super()._expand_help(action)


class _Commands(argparse._SubParsersAction):
    """Sub-command group whose parsers take their ``help`` as description when given none."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        text = kwargs.get("help")
        if text and "description" not in kwargs:
            kwargs["description"] = text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
        return super().add_parser(name, **kwargs)


class Parser(argparse.ArgumentParser):
    """The parser class of ``percept`` and (inherited by sub-parsers) all its commands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``0`` would be ambiguous: none, or no limit?)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_commands(parser: argparse.ArgumentParser, dest: str, title: str = "commands") -> Any:
    """A required sub-command group on ``parser``, listed as ``COMMAND`` under ``title``."""
    return parser.add_subparsers(dest=dest, required=True, title=title, metavar="COMMAND")
