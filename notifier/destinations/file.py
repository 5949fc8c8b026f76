"""The `file` destination: one JSON line per delivery, appended to `path`.

Meant for audit trails, local runs and the demo. Each record is written with a single ``os.write``
on a descriptor opened with ``O_APPEND``: the kernel moves to the end and writes in one step, so
several processes appending to the same file never interleave or overwrite each other's lines.
The file is opened per delivery, so log rotation (rename + new file) needs no signal.
"""

from __future__ import annotations

import errno
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DeliveryError, NotifierError
from .base import DestinationSpec, Outgoing

if TYPE_CHECKING:
    from ..digests.message import Digest
    from .registry import BuildContext

FILE_MODE = 0o640  # records name accounts and resources: not world-readable

# Errors that will not go away by themselves: retrying would only delay the dead letter.
# (EEXIST: mkdir found a file where a parent directory should be.)
_PERMANENT_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.EROFS, errno.ENAMETOOLONG}
)


def delivery_record(destination: str, outgoing: Outgoing, delivered_at: datetime) -> dict[str, Any]:
    n, t = outgoing.notification, outgoing.transition
    return {
        "delivered_at": delivered_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "destination": destination,
        "routes": list(outgoing.routes),
        "message_id": outgoing.message_id,
        "transition": t.as_dict(),
        "notification": {
            **n.identity(),
            "annotation": n.new.annotation,
            "ordering_timestamp": n.new.ordering_timestamp,
            "recorded_at": n.new.recorded_at,
            "previous_ordering_timestamp": n.old.ordering_timestamp if n.old else None,
            "created_at": n.created_at,
            "record_version": n.record_version,
        },
    }


def json_line(record: dict[str, Any]) -> bytes:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    # JSON allows these raw inside strings, but Python's str.splitlines() (and some log shippers) treat
    # them as line breaks: escape them so one record is always exactly one line for every reader.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")
    return (text + "\n").encode("utf-8")


class FileDestination:
    def __init__(self, spec: DestinationSpec) -> None:
        self.spec = spec
        raw_path = spec.options.get("path")
        if not isinstance(raw_path, str) or not raw_path.strip():
            raise NotifierError(f"destination {spec.name!r}: a file destination needs a path")
        self.path = Path(raw_path).expanduser()

    def send(self, outgoing: Outgoing) -> None:
        record = delivery_record(self.spec.name, outgoing, datetime.now(UTC))
        if self.spec.dry_run:  # record the line it would append; `append` itself (dead letters, outbox) always writes
            from .recording import record_file_append

            record_file_append(self.path, json_line(record))
            return
        self.append(record)

    def send_digest(self, digest: Digest) -> str | None:
        self.append(digest.record())
        return None

    def append(self, record: dict[str, Any]) -> None:
        """Append one JSON line; also how invalid messages reach their dead letter."""
        line = json_line(record)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
            try:
                written = os.write(descriptor, line)
            finally:
                os.close(descriptor)
        except OSError as exc:
            reason = f"cannot append to {self.path}: {exc.strerror}"
            raise DeliveryError(self.spec.name, reason, retryable=exc.errno not in _PERMANENT_ERRNOS) from exc
        if written != len(line):  # only on a full disk or a quota: the line is torn, say so
            raise DeliveryError(
                self.spec.name, f"short write to {self.path} ({written} of {len(line)} bytes)", retryable=True
            )


def create(spec: DestinationSpec, context: BuildContext) -> FileDestination:
    return FileDestination(spec)
