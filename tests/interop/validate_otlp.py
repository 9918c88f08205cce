"""Validates OTLP/HTTP JSON trace requests with the official OpenTelemetry protobuf schema.

Reads a JSON array of request bodies (strings) on stdin; parses each into
opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest with protobuf's json_format,
which refuses unknown fields, wrong types and out-of-range enums. OTLP/JSON differs from the
plain proto3 JSON mapping in one point: trace and span ids are hex, not base64 (OTLP spec,
"JSON Protobuf Encoding"); they are converted first, as an OTLP receiver does, and their
lengths checked. Prints a summary of every span as JSON; exits 1 with the reason on failure.
"""
import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def hex_ids_to_base64(node, path="$"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                raw = bytes.fromhex(value)  # raises on non-hex
                if value and len(raw) != ID_FIELDS[key]:
                    raise ValueError(f"{path}.{key}: {len(raw)} bytes, OTLP wants {ID_FIELDS[key]}")
                node[key] = base64.b64encode(raw).decode()
            else:
                hex_ids_to_base64(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            hex_ids_to_base64(value, f"{path}[{i}]")


def main():
    bodies = json.load(sys.stdin)
    spans = []
    for n, body in enumerate(bodies):
        data = json.loads(body)
        try:
            hex_ids_to_base64(data)
            request = json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=False)
        except Exception as e:  # noqa: BLE001 - report any rejection with its request
            print(f"request {n} is not a valid ExportTraceServiceRequest: {e}", file=sys.stderr)
            sys.exit(1)
        for rs in request.resource_spans:
            service = {kv.key: kv.value.string_value for kv in rs.resource.attributes}.get("service.name")
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append({
                        "service": service,
                        "traceId": s.trace_id.hex(),
                        "spanId": s.span_id.hex(),
                        "parentSpanId": s.parent_span_id.hex(),
                        "name": s.name,
                        "kind": s.kind,
                        "start": str(s.start_time_unix_nano),
                        "end": str(s.end_time_unix_nano),
                        "status": s.status.code,
                        "statusMessage": s.status.message,
                        "events": [e.name for e in s.events],
                        "attributes": {kv.key: json_format.MessageToDict(kv.value) for kv in s.attributes},
                    })
    print(json.dumps(spans))


main()
