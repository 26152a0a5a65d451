"""NodeStatusPublisher: latest status per node wins, failures are retried, streams never wait."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.exceptions import ConnectionError as RedisConnectionError

from control_plane.model import NodeStatus
from xds.status import NodeStatusPublisher

AT = datetime(2026, 1, 1, tzinfo=UTC)


def status(node_id: str, connected: bool = True) -> NodeStatus:
    return NodeStatus(node_id=node_id, connected=connected, connected_at=AT, updated_at=AT)


class FlakyStore:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.puts: list[NodeStatus] = []

    async def put(self, value: NodeStatus) -> None:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("down")
        self.puts.append(value)


async def test_latest_status_per_node_wins() -> None:
    store = FlakyStore()
    publisher = NodeStatusPublisher(store)
    publisher.publish(status("a"))
    publisher.publish(status("b"))
    publisher.publish(status("a", connected=False))
    assert publisher.pending == 2
    assert await publisher.flush()
    assert [(s.node_id, s.connected) for s in store.puts] == [("a", False), ("b", True)]
    assert publisher.pending == 0


async def test_failed_writes_stay_queued_for_the_next_flush() -> None:
    store = FlakyStore(failures=1)
    publisher = NodeStatusPublisher(store)
    publisher.publish(status("a"))
    assert not await publisher.flush()
    assert publisher.pending == 1
    assert await publisher.flush()
    assert [s.node_id for s in store.puts] == ["a"]


async def test_statuses_without_a_node_id_are_dropped() -> None:
    publisher = NodeStatusPublisher(FlakyStore())
    publisher.publish(status(""))
    assert publisher.pending == 0


def test_stream_counting_per_node() -> None:
    publisher = NodeStatusPublisher(FlakyStore())
    publisher.stream_opened("a")
    publisher.stream_opened("a")
    assert not publisher.stream_closed("a")
    assert publisher.stream_closed("a")
