"""Repair of a truncated or corrupt percept log: :func:`recover` copies every intact chunk of it
into a new, valid and indexed MCAP file (see :mod:`replay.log` for the layout).

The report counts bus messages (the percept channels) apart from the Foxglove views written
beside them (``<topic>/foxglove``), so a log of N messages recovers as N messages, not 2N.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from mcap.writer import Writer

from replay._mcap_scan import ChunkContents, Corrupt, Scanner
from replay.log import COMPRESSIONS, MESSAGE_ENCODING, PROFILE

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """Outcome of :func:`recover`.

    Attributes:
        chunks_recovered, chunks_bad: intact chunks copied, broken ones skipped.
        messages: bus messages recovered (percept channels only).
        bytes_lost: bytes of the input that could not be used.
        problems: one line per broken part.
        views: Foxglove view records recovered with them (``<topic>/foxglove``, not messages).
        other: records of any other channel copied as they were.
    """

    chunks_recovered: int
    chunks_bad: int
    messages: int
    bytes_lost: int
    problems: list[str] = field(default_factory=list)
    views: int = 0
    other: int = 0


def recover(path_in: str | Path, path_out: str | Path, compression: str = "zstd") -> RecoveryReport:
    """Rebuild a valid, indexed MCAP at ``path_out`` from every intact chunk of ``path_in``.

    Reading stops at the first broken record header (e.g. where a killed writer stopped);
    chunks with a bad CRC or undecodable data before it are skipped. All message records are
    copied with their times and sequence numbers.
    """
    scanner = Scanner(Path(path_in))
    writer = Writer(str(path_out), compression=COMPRESSIONS[compression])
    writer.start(profile=PROFILE, library="percept-replay recover")
    schema_ids: dict[int, int] = {}
    channel_ids: dict[int, int] = {}
    good = bad = 0
    lost = 0
    problems: list[str] = []
    counts = {"messages": 0, "views": 0, "other": 0}

    def copy(contents: ChunkContents) -> None:
        for sid, sc in scanner.schemas.items():
            if sid not in schema_ids:
                schema_ids[sid] = writer.register_schema(sc.name, sc.encoding, sc.data)
        for cid, ch in scanner.channels.items():
            if cid not in channel_ids:
                channel_ids[cid] = writer.register_channel(ch.topic, ch.message_encoding,
                                                           schema_ids.get(ch.schema_id, 0), ch.metadata)
        for m in contents.messages:
            new = channel_ids.get(m.channel_id)
            if new is not None:
                writer.add_message(new, m.log_time, m.data, m.publish_time, m.sequence)
                counts[_record_kind(scanner.channels[m.channel_id].message_encoding)] += 1

    try:
        for item in scanner.scan(stop_at_data_end=True):
            if isinstance(item, Corrupt):
                problems.append(f"{item.reason} at byte offset {item.offset}")
                lost += item.length
                if item.fatal:
                    break
                bad += 1
                continue
            contents = scanner.load(item)
            if isinstance(contents, Corrupt):
                problems.append(f"{contents.reason} at byte offset {contents.offset}")
                lost += item.length
                bad += 1
                continue
            good += 1
            copy(contents)
        copy(scanner.loose)
    finally:
        writer.finish()
        scanner.close()
    for p in problems:
        log.warning("%s: recover: %s", path_in, p)
    return RecoveryReport(good, bad, counts["messages"], lost, problems, counts["views"], counts["other"])


def _record_kind(message_encoding: str) -> str:
    """``"messages"`` (a bus message), ``"views"`` (a Foxglove protobuf view) or ``"other"``."""
    if message_encoding == MESSAGE_ENCODING:
        return "messages"
    return "views" if message_encoding == "protobuf" else "other"
