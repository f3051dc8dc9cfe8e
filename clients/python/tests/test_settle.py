from baton.v1 import worker_service_pb2 as pb
from baton_client.settle import MAX_SETTLE_BYTES, MAX_SETTLE_ENTRIES, pack_settlements


def _ack(job_id: str, result: bytes = b"") -> pb.SubscribeRequest:
    return pb.SubscribeRequest(ack=pb.SubscribeRequest.Ack(job_id=job_id, lease_token="token", result=result))


def _entries(packed: list[pb.SubscribeRequest]) -> list[int]:
    assert all(message.WhichOneof("message") == "settle" for message in packed)
    return [len(m.settle.acks) + len(m.settle.nacks) + len(m.settle.progress) for m in packed]


def test_settlements_are_packed_up_to_the_count_cap() -> None:
    packed = pack_settlements(_ack(str(i + 1)) for i in range(2 * MAX_SETTLE_ENTRIES + 5))
    assert _entries(packed) == [MAX_SETTLE_ENTRIES, MAX_SETTLE_ENTRIES, 5]


def test_settlements_are_packed_up_to_the_byte_cap() -> None:
    result = bytes(MAX_SETTLE_BYTES // 3)
    # Three results and their framing exceed the cap: two per message.
    assert _entries(pack_settlements(_ack(str(i + 1), result) for i in range(5))) == [2, 2, 1]


def test_a_second_report_on_a_job_goes_in_the_next_settle() -> None:
    progress = pb.SubscribeRequest(progress=pb.SubscribeRequest.Progress(job_id="1", lease_token="token", percent=50))
    pong = pb.SubscribeRequest(pong=pb.SubscribeRequest.Pong())
    packed = pack_settlements([progress, _ack("2"), pong, _ack("1")])
    assert [m.WhichOneof("message") for m in packed] == ["settle", "pong", "settle"]
    assert [p.job_id for p in packed[0].settle.progress] == ["1"]
    assert [a.job_id for a in packed[0].settle.acks] == ["2"]
    assert [a.job_id for a in packed[2].settle.acks] == ["1"]
