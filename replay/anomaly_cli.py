"""``percept anomaly``: the offline anomaly pipeline over a frame folder or video (entry point
``replay.anomaly_cli:register``).

    percept anomaly --source DIR|VIDEO [--model M] [--config scene.yaml] --scores-out scores.txt
                    [--events-out events.jsonl] [--normal-model MODEL.json]
    percept anomaly fit --source DIR|VIDEO [--model M] [--config scene.yaml] --out MODEL.json

The first runs camera frames -> detector -> 2D trackers -> anomaly score (:mod:`replay.pipeline`)
and writes ``scores.txt`` (one ``frame,score`` line per frame, frames from 1, higher = more
anomalous) and ``events.jsonl`` (one event per line in the JSON form of :mod:`events.jsonl`, which
``percept eval events`` reads): the score's ``anomaly`` events and, when the scene has ``rules``,
those of an :class:`events.engine.EventEngine` on the same tracks (the engine of ``percept watch``).
``fit`` learns the scene's normal-motion model from normal footage and writes it as JSON; pass it
back with ``--normal-model`` (or as the scene's ``anomaly.normal_model``). ``--model`` overrides
the scene's detector model. Progress is shown with ``rich`` when it is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from percept.errors import ConfigError

log = logging.getLogger(__name__)


def _scene_file(args: argparse.Namespace) -> Any:
    """The ``--config`` scene (:class:`events.scene.Scene`, ``anomaly`` section validated) or ``None``."""
    from replay.pipeline import load_anomaly_scene

    return load_anomaly_scene(args.config) if args.config else None


def _scene(args: argparse.Namespace, scene_file: Any = None) -> Any:
    """The :class:`~replay.pipeline.AnomalySceneConfig` of the run: the scene file's (default: the
    code defaults) with ``--model`` and ``--normal-model`` applied."""
    from replay.pipeline import AnomalySceneConfig

    scene = scene_file.anomaly if scene_file is not None else AnomalySceneConfig()
    if args.model:
        scene = dataclasses.replace(scene, detector=dataclasses.replace(scene.detector, model=args.model))
    if getattr(args, "normal_model", None):
        scene = dataclasses.replace(scene, normal_model=str(args.normal_model))
    return scene


@contextlib.contextmanager
def _progress(source: str) -> Iterator[Callable[[int], None] | None]:
    """A ``rich`` progress display (frames done) when rich is installed, else nothing."""
    try:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    except ImportError:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} frames"),
               TimeElapsedColumn())
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(f"anomaly {Path(source).name}", total=None)
        yield lambda n: bar.update(task, completed=n)


def cmd_anomaly(args: argparse.Namespace) -> int:
    """``percept anomaly``: scores and events of every frame of ``--source``."""
    from events.engine import EventEngine
    from events.jsonl import event_json_line
    from replay.pipeline import AnomalyPipeline, write_scores

    if getattr(args, "action", None) == "fit":
        return cmd_fit(args)
    for name in ("source", "scores_out"):
        if not getattr(args, name):
            raise ConfigError(f"percept anomaly: --{name.replace('_', '-')} is required")
    scene_file = _scene_file(args)
    engine = EventEngine(scene_file) if scene_file is not None and scene_file.rules else None
    pipeline = AnomalyPipeline(_scene(args, scene_file), event_engine=engine)
    try:
        with _progress(args.source) as progress:
            result = pipeline.run(args.source, progress)
    finally:
        pipeline.close()
    Path(args.scores_out).parent.mkdir(parents=True, exist_ok=True)
    write_scores(args.scores_out, result.scores)
    if args.events_out:
        Path(args.events_out).parent.mkdir(parents=True, exist_ok=True)
        with Path(args.events_out).open("w", encoding="utf-8") as fh:
            for e in result.events:
                fh.write(event_json_line(e) + "\n")
    log.info("%d frames (%d unreadable), %d events -> %s%s", len(result.scores), result.unreadable,
             len(result.events), args.scores_out, f", {args.events_out}" if args.events_out else "")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """``percept anomaly fit``: a normal-motion model from normal footage."""
    from replay.pipeline import AnomalyPipeline

    pipeline = AnomalyPipeline(dataclasses.replace(_scene(args, _scene_file(args)), normal_model="online"))
    tracks, size = [], None
    try:
        with _progress(args.fit_source) as progress:
            for n, stamp, image in pipeline.frames(args.fit_source):
                if image is None:
                    continue
                size = size or (image.shape[1], image.shape[0])
                dets = pipeline.detector.detect([image])[0]
                tracks.append(pipeline.track(dets, stamp, pipeline.detector.class_names))
                if progress is not None:
                    progress(n)
    finally:
        pipeline.close()
    if size is None:
        raise ConfigError(f"--source {args.fit_source}: no frame could be read")
    model = pipeline.fit(tracks, size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    log.info("normal-motion model: %d observations of %s over %d frames -> %s", model.n_observations,
             "/".join(model.config.classes), len(tracks), args.out)
    return 0


def register(registry: Any) -> None:
    """Add ``anomaly`` (and ``anomaly fit``) to a :class:`percept.cli.CommandRegistry`."""
    a = registry.commands.add_parser("anomaly", help="anomaly scores and events of a frame folder or video")
    a.add_argument("--source", default=None, help="folder of frames or video file")
    a.add_argument("--model", default=None, help="detector model (default: the scene's)")
    a.add_argument("--config", default=None, help="scene file (e.g. configs/scenes/ucsd-ped2.yaml)")
    a.add_argument("--scores-out", default=None, help="scores.txt to write (frame,score per line)")
    a.add_argument("--events-out", default=None, help="events.jsonl to write")
    a.add_argument("--normal-model", default=None, help="normal-motion model from 'percept anomaly fit'")
    a.set_defaults(func=cmd_anomaly, action=None)
    sub = a.add_subparsers(dest="action", title="commands", metavar="COMMAND",
                           help="optional: 'fit' learns a normal-motion model instead of scoring")
    f = sub.add_parser("fit", help="learn a normal-motion model from normal footage")
    f.add_argument("--source", dest="fit_source", required=True,
                   help="folder of frames or video of normal traffic")
    f.add_argument("--model", default=None, help="detector model (default: the scene's)")
    f.add_argument("--config", default=None, help="scene file")
    f.add_argument("--out", required=True, help="model file to write (JSON)")
    f.set_defaults(func=cmd_anomaly)
