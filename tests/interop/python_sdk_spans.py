"""Sends spans with the official OpenTelemetry Python SDK and its OTLP/HTTP exporter
(protobuf, the only encoding it has) to the URL given: a root span with two child spans,
the second failing with a recorded exception. Prints the trace id (hex) and the export result.
"""
import json
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

endpoint = sys.argv[1]
headers = {"Authorization": f"Bearer {sys.argv[2]}"} if len(sys.argv) > 2 else {}
exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=10)
provider = TracerProvider(resource=Resource.create({"service.name": "py-billing"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("interop-test")

with tracer.start_as_current_span("nightly-invoices", attributes={"enduser.id": "user-7"}) as root:
    trace_id = format(root.get_span_context().trace_id, "032x")
    with tracer.start_as_current_span("extract", attributes={"rows": 12}):
        pass
    with tracer.start_as_current_span("load") as load:
        try:
            raise RuntimeError("warehouse refused the load")
        except RuntimeError as e:
            load.record_exception(e)
            load.set_status(Status(StatusCode.ERROR, "load failed"))
flushed = provider.force_flush(10_000)
provider.shutdown()
print(json.dumps({"traceId": trace_id, "flushed": flushed}))
