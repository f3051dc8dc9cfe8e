"""Packing settlements (acks, nacks, progress reports) into the batched protocol's settle messages."""

from __future__ import annotations

from collections.abc import Iterable

from baton.v1 import worker_service_pb2 as pb

#: Caps of one settle message. The byte cap keeps a message well under the broker's request
#: limit (at least 4 MiB); a settlement larger than the cap (an ack with a big result) goes alone.
MAX_SETTLE_ENTRIES = 1000
MAX_SETTLE_BYTES = 1 << 20

_SETTLEMENTS = {"ack": "acks", "nack": "nacks", "progress": "progress"}


def pack_settlements(queued: Iterable[pb.SubscribeRequest]) -> list[pb.SubscribeRequest]:
    """Packs the single acks, nacks and progress reports among ``queued`` into settle messages;
    other messages pass through in their order. Each settle names a job at most once: the broker
    answers the entries of one message in no promised order, so a second report on a job (its
    ack after a progress report) starts the next message and stays behind the first."""
    packed: list[pb.SubscribeRequest] = []
    settle: pb.SubscribeRequest.Settle | None = None
    entries = size = 0
    named: set[str] = set()
    for message in queued:
        kind = message.WhichOneof("message")
        if kind not in _SETTLEMENTS:
            packed.append(message)
            continue
        entry = getattr(message, kind)
        # Each entry is encoded inside settle exactly as inside the single message.
        entry_size = message.ByteSize()
        if settle is None or entries == MAX_SETTLE_ENTRIES or size + entry_size > MAX_SETTLE_BYTES or entry.job_id in named:
            packed.append(pb.SubscribeRequest(settle=pb.SubscribeRequest.Settle()))
            settle = packed[-1].settle
            entries = size = 0
            named = set()
        getattr(settle, _SETTLEMENTS[kind]).append(entry)
        entries += 1
        size += entry_size
        named.add(entry.job_id)
    return packed
