"""metamon's SDK for applications: send traces to a metamon server.

- `Metamon`: the `trace` context manager and `traced` decorator for plain Python code.
- `TraceShipper`: the batching background shipper they (and the LangChain handler) send through.
- `metamon.sdk.langchain.MetamonCallbackHandler` (extra `langchain`).
- `metamon.sdk.otel.send_to_metamon` (extra `otel`): an OpenTelemetry tracer provider exporting to metamon.

It needs only httpx and never imports the server.
"""

from importlib.metadata import PackageNotFoundError, version

from metamon.sdk.shipper import ShipperStats, TraceShipper
from metamon.sdk.tracing import Metamon, Run

try:
    __version__ = version("metamon-sdk")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Metamon", "Run", "ShipperStats", "TraceShipper", "__version__"]
