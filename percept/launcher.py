"""Process launcher: runs every node of a graph as its own process and supervises them.

* Nodes start as ``python -m percept.shell SPEC`` in a process group of their own (so a
  terminal's Ctrl-C reaches only the launcher, which then stops them in order), with
  ``PR_SET_PDEATHSIG`` so that no node outlives a launcher that was killed outright.
* A node that exits while the graph is running is restarted after a delay that doubles on
  each consecutive crash (``restart.backoff_s`` .. ``restart.max_backoff_s``).
* A node that exits with code 0 on its own has *finished* (its stream ended, see
  :mod:`percept.shell`) and is not restarted. When every node has finished the launcher returns
  0 by itself; when the sources (nodes nothing feeds) have finished but the others have not
  within ``drain_timeout_s`` of the last node that finished, it stops them, names them and
  returns 1.
* SIGINT/SIGTERM (or ``duration_s``): the sources get SIGTERM first and end their streams, so
  what they sent is drained by the nodes behind them, which then finish; whatever still runs
  after ``stop_timeout_s`` gets SIGTERM, then SIGKILL after another ``stop_timeout_s``; the
  launcher reaps them all and returns 0.
* At the end it joins the nodes' summaries (:mod:`percept.summary`): per topic and consumer the
  messages published, received and skipped, and each node's own counters; logged, kept as
  :attr:`Launcher.summary` and written to ``<run_dir>/summary.json``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from percept.errors import PerceptError
from percept.graph import GraphConfig, Manifest, resolve
from percept.shell import NodeSpec
from percept.summary import NodeSummary, RunSummary, summary_path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Child:
    spec: NodeSpec
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    started_wall: float = 0.0  # time.time() of the latest spawn (summary files are newer)
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None
    given_up: bool = False
    finished: bool = False


class Launcher:
    """Starts, supervises and stops the nodes of ``graph``.

    Args:
        graph: a validated graph.
        run_dir: override of the graph's run directory (sockets, manifest, logs).
    """

    def __init__(self, graph: GraphConfig, run_dir: Path | None = None) -> None:
        self.graph = graph
        self.run_dir, specs = resolve(graph, run_dir)
        self.children = {s.name: _Child(s) for s in specs}
        self._stopping = False
        self._last_finish = 0.0  # monotonic time the latest node finished
        self.summary: RunSummary | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children.values():
            self._spawn(child)
        self._write_manifest()

    def _spawn(self, child: _Child) -> None:
        out = None
        if self.graph.output == "log":
            out = (self.run_dir / f"{child.spec.name}.log").open("ab")
        try:
            child.proc = subprocess.Popen(
                [sys.executable, "-m", "percept.shell", child.spec.to_json()],
                stdout=out, stderr=subprocess.STDOUT if out else None,
                process_group=0, preexec_fn=_die_with_parent,
            )
        finally:
            if out is not None:
                out.close()
        child.started = time.monotonic()
        child.started_wall = time.time()
        child.restart_at = None
        log.info("started node %s (pid %d)", child.spec.name, child.proc.pid)

    def _write_manifest(self) -> None:
        nodes = {
            name: {"endpoint": c.spec.endpoint, "type": c.spec.type,
                   "publishes": list(next(n.publishes for n in self.graph.nodes if n.name == name)),
                   "subscribe": list(c.spec.subscribe),
                   "pid": c.proc.pid if c.proc and c.proc.poll() is None else None,
                   "restarts": c.restarts}
            for name, c in self.children.items()
        }
        Manifest(self.graph.name, os.getpid(), nodes).write(self.run_dir)

    def _ended_before_exit(self, child: _Child) -> bool:
        """Whether ``child``'s latest process wrote a summary saying its stream ended."""
        path = summary_path(self.run_dir, child.spec.name)
        try:
            fresh = path.stat().st_mtime >= child.started_wall
            return fresh and NodeSummary.read(path).finished
        except (OSError, PerceptError):
            return False

    def supervise_once(self) -> None:
        """Notice exited nodes and (re)start those whose backoff has elapsed."""
        rs, now, changed = self.graph.restart, time.monotonic(), False
        for child in self.children.values():
            proc = child.proc
            if proc is not None and child.restart_at is None and not (child.given_up or child.finished):
                code = proc.poll()
                if code is None:
                    continue
                ran = now - child.started
                changed = True
                if code == 0 and not self._stopping:
                    child.finished = True
                    self._last_finish = now
                    log.info("node %s finished after %.1f s", child.spec.name, ran)
                    continue
                if code != 0 and not self._stopping and self._ended_before_exit(child):
                    # its stream had ended and its end marker was sent: a restart would replay it
                    child.finished = True
                    self._last_finish = now
                    log.warning("node %s exited with code %d after its stream ended; not restarted",
                                child.spec.name, code)
                    continue
                log.warning("node %s exited with code %d after %.1f s", child.spec.name, code, ran)
                if not rs.enabled or (rs.max_restarts and child.restarts >= rs.max_restarts):
                    child.given_up = True
                    self._last_finish = now  # a given-up source ends no stream: drain behind it
                    log.error("node %s will not be restarted", child.spec.name)
                    continue
                child.backoff = rs.backoff_s if ran >= rs.reset_after_s or not child.backoff \
                    else min(child.backoff * 2, rs.max_backoff_s)
                child.restart_at = now + child.backoff
                log.info("restarting node %s in %.2f s", child.spec.name, child.backoff)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                changed = True
        if changed:
            self._write_manifest()

    def stop(self) -> None:
        """Stop the graph in order: SIGTERM to the sources (nodes nothing feeds), which end their
        streams so that the nodes behind them drain and finish; after ``stop_timeout_s`` SIGTERM
        to every node still running, after another ``stop_timeout_s`` SIGKILL; reap all."""
        self._stopping = True
        procs = [c.proc for c in self.children.values() if c.proc is not None]
        sources = [c.proc for c in self.children.values() if c.proc is not None and not c.spec.upstream]
        for group in (sources, procs):
            for p in group:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.graph.stop_timeout_s
            while time.monotonic() < deadline and any(p.poll() is None for p in procs):
                time.sleep(0.02)
        for p in procs:
            if p.poll() is None:
                log.warning("node pid %d ignored SIGTERM; killing it", p.pid)
                p.kill()
            p.wait()
        (self.run_dir / Manifest.FILE).unlink(missing_ok=True)

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if signum is not None:
            log.info("launcher: signal %d, stopping the graph", signum)
        self._stopping = True

    @property
    def finished(self) -> bool:
        """Whether every node has finished (the graph drained)."""
        return all(c.finished for c in self.children.values())

    def drain_overdue(self) -> list[str]:
        """Nodes still running ``drain_timeout_s`` after the last node finished or was given up,
        once every source has (else empty)."""
        kids = self.children.values()
        sources = [c for c in kids if not c.spec.upstream]
        if not sources or not all(c.finished or c.given_up for c in sources):
            return []
        if time.monotonic() < self._last_finish + self.graph.drain_timeout_s:
            return []
        return [c.spec.name for c in kids if not (c.finished or c.given_up)]

    def run(self, duration_s: float | None = None) -> int:
        """Run until every node finished, SIGINT/SIGTERM or ``duration_s``; always stops every node.

        Returns 0, or 1 when the sources ended but the graph did not drain in ``drain_timeout_s``.
        """
        old = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        end = time.monotonic() + duration_s if duration_s is not None else float("inf")
        code = 0
        try:
            self.start()
            while not self._stopping and time.monotonic() < end:
                self.supervise_once()
                if self.finished:
                    log.info("graph %s: every node finished", self.graph.name)
                    break
                if all(c.finished or c.given_up for c in self.children.values()):
                    log.error("graph %s: ended with %s given up", self.graph.name,
                              [c.spec.name for c in self.children.values() if c.given_up])
                    code = 1
                    break
                if overdue := self.drain_overdue():
                    log.error("graph %s: sources ended but %s did not finish within %.1f s; stopping them",
                              self.graph.name, overdue, self.graph.drain_timeout_s)
                    code = 1
                    break
                time.sleep(0.05)
        finally:
            self.stop()
            for s, h in old.items():
                signal.signal(s, h)
            self._report()
        return code

    def _report(self) -> None:
        """Join, log and write the nodes' summaries (see the module docstring)."""
        summary = RunSummary.collect(self.run_dir, list(self.children))
        if not summary.nodes:
            return
        self.summary = summary
        for line in summary.lines():
            log.info("summary: %s", line)
        with contextlib.suppress(OSError):
            (self.run_dir / "summary.json").write_text(json.dumps(summary.as_dict(), indent=1),
                                                       encoding="utf-8")
