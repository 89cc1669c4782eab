#!/usr/bin/env python3
"""Writes the seed inputs under fuzz/corpus/<target>/seed-* (committed; the fuzzer's own finds
are not, see fuzz/.gitignore). A few small valid inputs per target, so a short run starts from
inputs that reach past the first checks. Usage: python3 fuzz/corpus/make_seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, "seed-" + name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---- protobuf, by hand (field numbers from opentelemetry-proto's .proto files) -------------

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def vi(field, v):
    return key(field, 0) + varint(v)


def ld(field, body):
    body = body.encode() if isinstance(body, str) else body
    return key(field, 2) + varint(len(body)) + body


def f64(field, v):
    return key(field, 1) + struct.pack("<Q", v)


def dbl(field, v):
    return key(field, 1) + struct.pack("<d", v)


def kv(k, any_value):
    return ld(1, k) + ld(2, any_value)


T0 = 1544712660000000000
resource = ld(1, kv("service.name", ld(1, "svc")))
scope = ld(1, "s") + ld(2, "1.0")

span = (ld(1, bytes.fromhex("5b8efff798038103d269b633813fc60c")) + ld(2, bytes.fromhex("eee19b7ec3c1b174"))
        + ld(5, "GET /") + vi(6, 2) + f64(7, T0) + f64(8, T0 + 10**9)
        + ld(9, kv("n", vi(3, 3))) + ld(11, f64(1, T0) + ld(2, "ev")) + ld(15, vi(3, 1)))
traces = ld(1, ld(1, resource) + ld(2, ld(1, scope) + ld(2, span) + ld(2, span))) + ld(1, ld(2, ld(2, span)))

number = f64(3, T0) + key(6, 1) + struct.pack("<q", 5) + ld(7, kv("k", ld(1, "v")))
hist = f64(3, T0) + f64(4, 2) + dbl(5, 3.5) + ld(6, struct.pack("<QQ", 1, 1)) + ld(7, struct.pack("<d", 1.0))
summary = f64(3, T0) + f64(4, 1) + dbl(5, 2.0) + ld(6, dbl(1, 0.5) + dbl(2, 2.0))
metrics = ld(1, ld(1, resource) + ld(2, ld(1, scope)
                                     + ld(2, ld(1, "g") + ld(5, ld(1, number)))
                                     + ld(2, ld(1, "c") + ld(7, ld(1, number) + vi(2, 2) + vi(3, 1)))
                                     + ld(2, ld(1, "h") + ld(9, ld(1, hist) + vi(2, 2)))
                                     + ld(2, ld(1, "q") + ld(11, ld(1, summary)))))

record = (f64(1, T0) + vi(2, 9) + ld(3, "INFO") + ld(5, ld(1, "hello"))
          + ld(6, kv("ok", vi(2, 1))) + ld(6, kv("list", ld(5, ld(1, ld(1, "a")) + ld(1, vi(3, 7))))))
logs = ld(1, ld(1, resource) + ld(2, ld(1, scope) + ld(2, record) + ld(2, record)))

write("scan_request", "traces.pb", traces)
write("scan_request", "metrics.pb", metrics)
write("scan_request", "logs.pb", logs)

# ---- OTLP/JSON ----------------------------------------------------------------------------

RES = '{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]}'
write("json_decode", "traces.json",
      '{"resourceSpans":[{"resource":' + RES + ',"scopeSpans":[{"scope":{"name":"s"},"spans":[{'
      '"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /",'
      '"kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",'
      '"attributes":[{"key":"n","value":{"intValue":"3"}}],"status":{"code":1}}]}]}]}')
write("json_decode", "metrics.json",
      '{"resourceMetrics":[{"resource":' + RES + ',"scopeMetrics":[{"metrics":['
      '{"name":"c","sum":{"aggregationTemporality":2,"isMonotonic":true,'
      '"dataPoints":[{"asInt":"5","timeUnixNano":"1544712660000000000"}]}},'
      '{"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"2","sum":3.5,'
      '"bucketCounts":["1","1"],"explicitBounds":[1.0]}]}}]}]}]}')
write("json_decode", "logs.json",
      '{"resourceLogs":[{"resource":' + RES + ',"scopeLogs":[{"logRecords":[{'
      '"timeUnixNano":"1544712660000000000","severityNumber":9,"body":{"stringValue":"hello"},'
      '"attributes":[{"key":"ok","value":{"boolValue":true}}]}]}]}]}')

# ---- HTTP/1.1 requests --------------------------------------------------------------------

write("http_request", "content-length",
      "POST /v1/traces HTTP/1.1\r\nHost: localhost:4318\r\nContent-Type: application/x-protobuf\r\n"
      "Content-Length: 5\r\n\r\nhello")
write("http_request", "chunked",
      "POST /v1/logs HTTP/1.1\r\nHost: localhost:4318\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n")
write("http_request", "get", "GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")

# ---- gRPC framing: one byte choosing the chunk size, then the body -------------------------

write("grpc_frame", "one-frame", b"\x03" + b"\x00" + struct.pack(">I", 5) + b"hello")
write("grpc_frame", "compressed", b"\x02" + b"\x01" + struct.pack(">I", 3) + b"abc")

# ---- compressed bodies ---------------------------------------------------------------------

import gzip  # noqa: E402
import zlib  # noqa: E402

TEXT = b"resource_spans scope_spans spans " * 40
write("decompress", "text.gz", gzip.compress(TEXT, mtime=0))
write("decompress", "text.zlib", zlib.compress(TEXT))
# 1 MiB of zeros in 1 KiB: past the target's 64 KiB limit, so the bomb path is reached.
write("decompress", "bomb.gz", gzip.compress(b"\0" * (1 << 20), mtime=0))

# ---- configs -------------------------------------------------------------------------------

with open(os.path.join(HERE, "..", "..", "src", "config", "default.yaml")) as f:
    write("config_load", "default.yaml", f.read())
write("config_load", "full.yaml", """extensions:
  bearertokenauth/in: {token: "${env:FUZZ_NAME}", scheme: Bearer}
  health_check: {endpoint: 127.0.0.1:13133}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:${env:FUZZ_PORT}", max_recv_msg_size_mib: 4, auth: {authenticator: bearertokenauth/in}}
      http: {endpoint: 127.0.0.1:4318, cors: {allowed_origins: ["https://*.example.com"]}}
processors:
  batch: {send_batch_size: 100, timeout: 1s, send_batch_max_size: 200}
  memory_limiter: {check_interval: 1s, limit_mib: 512, spike_limit_mib: 128}
  attributes:
    actions: [{key: env, value: prod, action: upsert}, {key: secret, action: delete}, {pattern: "^tmp_.*", action: delete}]
  resource:
    attributes: [{key: region, value: eu, action: insert}]
exporters:
  otlp: {endpoint: "collector:4317", tls: {insecure: true}, compression: gzip, retry_on_failure: {enabled: true, max_elapsed_time: 60s}, sending_queue: {queue_size: 100}}
  otlphttp: {endpoint: "https://backend:4318", headers: {x-team: a}, encoding: json}
  debug: {verbosity: detailed}
service:
  extensions: [bearertokenauth/in, health_check]
  telemetry: {logs: {level: info}, metrics: {address: 127.0.0.1:8888}}
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, attributes, batch], exporters: [otlp, debug]}
    metrics/x: {receivers: [otlp], processors: [resource, batch], exporters: [otlphttp]}
    logs: {receivers: [otlp], exporters: [debug]}
shards: {cores: 1, drain_timeout: 5s, h2_resets_burst: 10}
""")

# ---- prometheus_text: both exposition formats ------------------------------------------------

write("prometheus_text", "text-0.0.4.txt", """# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a\\\"b\\n"} 1027 1395066363000
# TYPE latency histogram
latency_bucket{le="0.1"} 1
latency_bucket{le="+Inf"} 4
latency_sum 2.5
latency_count 4
# TYPE rpc summary
rpc{quantile="0.5"} 0.2
rpc_sum 9
rpc_count 20
untyped NaN
target_info{env="prod"} 1
""")
write("prometheus_text", "openmetrics.txt", """# TYPE foo counter
# UNIT foo seconds
foo_total{a="1"} 17.0 1520879607.789 # {trace_id="abc"} 0.67
foo_created{a="1"} 1520430000.123
# TYPE s stateset
s{s="a"} 1
# EOF
""")
