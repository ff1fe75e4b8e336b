import socket
import time

from metamon.sdk import TraceShipper


def test_traces_go_in_batches_with_the_key(receiver):
    shipper = TraceShipper(receiver.url, "mm_abc_def", batch_size=100, flush_interval=0.2)
    for i in range(250):
        assert shipper.submit({"id": f"t{i}"})
    assert shipper.flush(10)
    shipper.close()
    assert [len(body["traces"]) for _, _, body in receiver.requests] == [100, 100, 50]
    path, headers, _ = receiver.requests[0]
    assert path == "/api/v1/traces" and headers["Authorization"] == "Bearer mm_abc_def"
    assert [t["id"] for t in receiver.traces] == [f"t{i}" for i in range(250)]
    assert shipper.stats.sent == 250


def test_a_server_error_is_retried_until_it_passes(receiver):
    receiver.statuses = [503, 429]
    shipper = TraceShipper(receiver.url, "k", flush_interval=0.05, backoff=0.05)
    shipper.submit({"id": "a"})
    assert shipper.flush(10)
    assert (shipper.stats.sent, shipper.stats.failed_attempts) == (1, 2)
    assert len(receiver.requests) == 3


def test_a_refused_batch_is_dropped_without_retrying(receiver):
    receiver.statuses = [422]
    shipper = TraceShipper(receiver.url, "k", flush_interval=0.05, backoff=1)
    shipper.submit({"id": "a"})
    assert shipper.flush(5)
    assert (shipper.stats.rejected, shipper.stats.failed_attempts, len(receiver.requests)) == (1, 0, 1)


def test_an_unreachable_server_never_blocks_submit_and_drops_are_counted():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    shipper = TraceShipper(dead, "k", flush_interval=0.05, max_retries=1, backoff=0.05, max_queue=3)
    started = time.monotonic()
    accepted = [shipper.submit({"id": str(i)}) for i in range(50)]
    assert time.monotonic() - started < 0.5
    assert shipper.flush(10)
    stats = shipper.stats
    assert stats.sent == 0
    assert stats.dropped_queue_full == accepted.count(False) > 0
    assert stats.dropped_queue_full + stats.dropped_after_retries == 50
