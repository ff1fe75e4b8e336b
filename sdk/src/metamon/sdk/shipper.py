"""Ships traces to `POST /api/v1/traces` from a background thread, in batches, with retries.

The application thread only ever does a non-blocking queue put: when metamon is slow or down, traces
wait in a bounded queue and, past its size, are dropped and counted. Nothing here raises into the host.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


@dataclass
class ShipperStats:
    sent: int = 0
    dropped_queue_full: int = 0
    dropped_after_retries: int = 0
    rejected: int = 0  # refused by the API with a 4xx: retrying would not help
    failed_attempts: int = 0


class TraceShipper:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        max_retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 5.0,
    ):
        self.endpoint = url.rstrip("/") + "/api/v1/traces"
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.max_retries, self.backoff = max_retries, backoff
        self.stats = ShipperStats()
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=max_queue)
        self._client = httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
        self._idle = threading.Event()
        self._idle.set()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metamon-shipper", daemon=True)
        self._thread.start()

    def submit(self, trace: dict) -> bool:
        """Queue one trace; never blocks. False when the queue was full and the trace was dropped."""
        try:
            self._idle.clear()
            self._queue.put_nowait(trace)
            return True
        except queue.Full:
            self.stats.dropped_queue_full += 1
            return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far was sent or given up on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and self._idle.is_set():
                return True
            time.sleep(0.02)
        return False

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._closing.set()
        self._thread.join(timeout)
        self._client.close()

    def _next_batch(self) -> list[dict]:
        batch: list[dict] = []
        deadline = time.monotonic() + self.flush_interval
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and batch:
                break
            try:
                batch.append(self._queue.get(timeout=max(remaining, 0.05)))
            except queue.Empty:
                if batch or self._closing.is_set():
                    break
                self._idle.set()
        return batch

    def _run(self) -> None:
        while not (self._closing.is_set() and self._queue.empty()):
            batch = self._next_batch()
            if batch:
                self._send(batch)
            if self._queue.empty():
                self._idle.set()

    def _send(self, batch: list[dict]) -> None:
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._client.post(self.endpoint, json={"traces": batch})
                if resp.status_code < 300:
                    self.stats.sent += len(batch)
                    return
                if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                    self.stats.rejected += len(batch)
                    log.warning(
                        "metamon refused %d traces: %s %s", len(batch), resp.status_code, resp.text[:500]
                    )
                    return
            except httpx.HTTPError as exc:
                log.debug("metamon unreachable: %s", exc)
            self.stats.failed_attempts += 1
            if attempt < self.max_retries and not self._closing.is_set():
                time.sleep(self.backoff * 2**attempt)
        self.stats.dropped_after_retries += len(batch)
        log.warning(
            "metamon unreachable: dropped %d traces after %d attempts", len(batch), self.max_retries + 1
        )
