"""``percept calibrate ...`` commands, added to the percept CLI by :func:`register`.

    percept calibrate camera (--images DIR | --video FILE) --board 9x6 --square 0.025 --out cam.yaml
                             [--fisheye] [--json] [--step N] [--name FRAME] [--min-views N]
                             [--max-error PX]
    percept calibrate check --calib KITTI_CALIB.txt --lidar SCAN.bin --image IMG --out overlay.png
                            [--cam 2]

    percept calibrate ground --pairs PAIRS.yaml|PAIRS.csv --out H.yaml [--ransac [--threshold M]]
                             [--image-size WxH] [--json]

``camera`` calibrates intrinsics from chessboard views and writes a percept calibration YAML
(``calib.formats``); with ``--json`` it prints one JSON object
``{"fx", "fy", "cx", "cy", "dist", "rms", "views_used"}`` on stdout (logs go to stderr).
``check`` draws a KITTI lidar scan over the camera image to check an extrinsic calibration by eye.
``ground`` fits an image->ground-plane homography to four or more marked pixel <-> metre pairs
(``calib.ground``) and reports its reprojection error; with ``--json`` one JSON object
``{"homography", "pairs", "inliers", "rms_error_m", "max_error_m", "rms_error_px"}``.
All exit with code 2 and one line ``percept: error: ...`` on stderr when the input is unusable.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from percept import cliutil

log = logging.getLogger("calib.cli")


def _board(text: str) -> tuple[int, int]:
    """``"9x6"`` -> ``(9, 6)`` inner corners (cols, rows)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        cols, rows = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected inner corners as COLSxROWS, e.g. 9x6, got {text!r}") from None
    if cols < 3 or rows < 3:
        raise argparse.ArgumentTypeError(f"a chessboard needs at least 3x3 inner corners, got {text!r}")
    return cols, rows


def _fail(command: str, exc: Exception) -> int:
    """One error line (``percept: error: calibrate COMMAND: ...``); the exit code 2."""
    return cliutil.error(f"calibrate {command}: {cliutil.error_text(exc)}")


def cmd_calibrate_camera(args: argparse.Namespace) -> int:
    """Chessboard intrinsic calibration; returns 0, or 2 on a CalibrationError."""
    from calib.chessboard import ChessboardConfig, calibrate, frames_from_video, list_images, read_images
    from calib.errors import CalibrationError
    from calib.formats import save_percept_yaml
    from calib.rig import Rig
    from calib.transform import FrameTree

    names: list[str] = []
    try:
        config = ChessboardConfig(board=args.board, square_m=args.square, min_views=args.min_views,
                                  max_views=max(args.max_views, args.min_views),
                                  max_view_error_px=args.max_error,
                                  model="fisheye" if args.fisheye else "pinhole")
        if args.images:
            paths = list_images(args.images)

            def frames() -> Iterator[Any]:
                for path, img in read_images(paths):
                    names.append(path.name)
                    yield img

            source: Iterator[Any] = frames()
        else:
            video = frames_from_video(args.video, args.step)

            def numbered() -> Iterator[Any]:
                for i, img in enumerate(video):
                    names.append(f"frame {i * args.step}")
                    yield img

            source = numbered()
        result = calibrate(source, config)
        cam = result.camera
        save_percept_yaml(args.out, Rig(cameras={args.name: cam}, tree=FrameTree()))
    except CalibrationError as exc:
        return _fail("camera", exc)

    for i, err in zip(result.view_indices, result.per_view_errors, strict=True):
        log.info("view %-24s reprojection RMS %.3f px", names[i] if i < len(names) else i, err)
    rejected = ", ".join(f"{k} {v}" for k, v in result.rejected.items() if v) or "none"
    log.info("RMS %.3f px over %d views (rejected: %s); wrote %s", result.rms, result.views_used,
             rejected, args.out)
    if args.json:
        doc = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy,
               "dist": [float(d) for d in cam.dist], "rms": result.rms, "views_used": result.views_used}
        cliutil.out(json.dumps(doc))
    else:
        cliutil.out(
            f"{cam.model} camera {cam.width}x{cam.height}: fx {cam.fx:.3f} fy {cam.fy:.3f} "
            f"cx {cam.cx:.3f} cy {cam.cy:.3f} dist {[round(float(d), 6) for d in cam.dist]}\n"
            f"RMS {result.rms:.3f} px over {result.views_used} views (rejected: {rejected}); "
            f"wrote {args.out}")
    return 0


def cmd_calibrate_check(args: argparse.Namespace) -> int:
    """Lidar-over-image overlay from a KITTI calibration; returns 0, or 2 on bad input."""
    import cv2

    from calib.errors import CalibrationError
    from calib.kitti import load_kitti_calib, read_velodyne_bin
    from calib.overlay import visible_points, write_overlay

    try:
        calib = load_kitti_calib(args.calib)
        points = read_velodyne_bin(args.lidar)
        image = cv2.imread(str(args.image), cv2.IMREAD_COLOR) if Path(args.image).is_file() else None
        if image is None:
            raise CalibrationError(f"{args.image}: missing or unreadable image")
        write_overlay(args.out, image, points, calib, args.cam)
        drawn = int(visible_points(points, calib, args.cam, image.shape[:2]).sum())
    except CalibrationError as exc:
        return _fail("check", exc)
    log.info("drew %d of %d lidar points from %s over %s (camera %d; the others are behind the "
             "camera or outside the image); wrote %s", drawn, len(points), args.lidar, args.image, args.cam,
             args.out)
    cliutil.out(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}): {drawn} of {len(points)} "
                "lidar points in view")
    return 0


def _size(text: str) -> tuple[int, int]:
    """``"960x540"`` -> ``(960, 540)`` pixels."""
    try:
        w, h = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 960x540, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive WIDTHxHEIGHT, got {text!r}")
    return w, h


def cmd_calibrate_ground(args: argparse.Namespace) -> int:
    """Ground-plane homography from marked pairs; returns 0, or 2 on a CalibrationError."""
    import dataclasses

    from calib.errors import CalibrationError
    from calib.ground import estimate_ground_homography, read_pairs, save_ground_yaml

    try:
        if args.threshold <= 0:
            raise CalibrationError(f"--threshold: expected > 0 metres, got {args.threshold}")
        pairs = read_pairs(args.pairs)
        if args.image_size is not None:
            pairs = dataclasses.replace(pairs, image_size=args.image_size)
        result = estimate_ground_homography(pairs, ransac=args.ransac, ransac_threshold_m=args.threshold,
                                            where=str(args.pairs))
        save_ground_yaml(args.out, result)
    except CalibrationError as exc:
        return _fail("ground", exc)
    except OSError as exc:
        return _fail("ground", CalibrationError(f"{args.out}: cannot write ({exc.strerror or exc})"))
    if args.json:
        doc = {"homography": result.H.tolist(), "pairs": result.pairs, "inliers": result.inlier_count,
               "rms_error_m": result.rms_error_m, "max_error_m": result.max_error_m,
               "rms_error_px": result.rms_error_px}
        cliutil.out(json.dumps(doc))
    else:
        cliutil.out(f"homography from {result.pairs} pairs ({result.inlier_count} inliers): "
                    f"reprojection RMS {result.rms_error_m:.4f} m (max {result.max_error_m:.4f} m), "
                    f"{result.rms_error_px:.3f} px; wrote {args.out}")
    return 0


def register(registry: Any) -> None:
    """Add ``percept calibrate {camera,check,ground}`` to ``registry.commands`` (argparse subparsers)."""
    c = registry.commands.add_parser(
        "calibrate", help="camera calibration and calibration checks",
        description="Calibrate a camera from chessboard views, check a lidar-camera calibration "
                    "by drawing the scan over the image, or fit a ground-plane homography.")
    sub = cliutil.add_commands(c, "calibrate")

    cam = sub.add_parser("camera", help="intrinsics from chessboard images or a video")
    src = cam.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", metavar="DIR", help="folder of chessboard images")
    src.add_argument("--video", metavar="FILE", help="video file showing the chessboard")
    cam.add_argument("--board", type=_board, default="9x6", metavar="COLSxROWS",
                     help="inner corners (a board of 10x7 squares has 9x6)")
    cam.add_argument("--square", type=float, default=0.025, metavar="M", help="square side in metres")
    cam.add_argument("--out", required=True, metavar="YAML", help="percept calibration YAML to write")
    cam.add_argument("--name", default="camera", help="camera frame name in the YAML")
    cam.add_argument("--fisheye", action="store_true", help="fisheye (Kannala-Brandt k1..k4) model")
    cam.add_argument("--json", action="store_true", help="print the result as one JSON object")
    cam.add_argument("--step", type=int, default=5, metavar="N", help="use every N-th video frame")
    cam.add_argument("--min-views", type=int, default=8, metavar="N", help="fewest usable views")
    cam.add_argument("--max-views", type=int, default=60, metavar="N", help="most views used")
    cam.add_argument("--max-error", type=float, default=1.0, metavar="PX",
                     help="reject views with a reprojection RMS above PX pixels")
    cam.set_defaults(func=cmd_calibrate_camera)

    chk = sub.add_parser("check", help="draw a KITTI lidar scan over the camera image")
    chk.add_argument("--calib", required=True, metavar="FILE",
                     help="KITTI calibration file (object or tracking)")
    chk.add_argument("--lidar", required=True, metavar="BIN",
                     help="velodyne scan .bin (float32 x, y, z, reflectance)")
    chk.add_argument("--image", required=True, metavar="IMG", help="camera image of the same instant")
    chk.add_argument("--out", required=True, metavar="IMG", help="overlay image to write (.png or .jpg)")
    chk.add_argument("--cam", type=int, default=2, choices=range(4), help="KITTI camera 0-3")
    chk.set_defaults(func=cmd_calibrate_check)

    gnd = sub.add_parser("ground", help="image->ground-plane homography from marked point pairs")
    gnd.add_argument("--pairs", required=True,
                     help="pairs file: YAML (pairs: [{image: [u, v], ground: [x, y]}, ...]) or CSV u,v,x,y")
    gnd.add_argument("--out", required=True, help="ground calibration YAML to write")
    gnd.add_argument("--ransac", action="store_true", help="robust fit that ignores mismarked pairs")
    gnd.add_argument("--threshold", type=float, default=0.5,
                     help="RANSAC inlier distance on the ground, metres (default 0.5)")
    gnd.add_argument("--image-size", type=_size, default=None, metavar="WxH",
                     help="image size to record in the output (default: the pairs file's, if any)")
    gnd.add_argument("--json", action="store_true", help="print the result as one JSON object")
    gnd.set_defaults(func=cmd_calibrate_ground)
