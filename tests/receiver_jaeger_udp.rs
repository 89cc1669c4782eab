//! The `jaeger` receiver's agent UDP ports end to end: `emitBatch` datagrams in the Thrift
//! compact protocol (`thrift_compact`) and the binary protocol (`thrift_binary`), built here
//! byte by byte as Jaeger clients' UDP senders write them and by Apache Thrift's own Rust
//! protocol writers, sent to shardgate (two shards) and recorded by the gRPC backend; the
//! same batch posted to `thrift_http` for comparison.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::cell::RefCell;
use std::io::Write;
use std::net::UdpSocket;
use std::rc::Rc;
use std::time::Duration;

use common::http::post;
use common::{free_port, Backend, Collector, Config, Flat, WAIT};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TListIdentifier,
    TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

/// A Thrift type, as each protocol writes it.
#[derive(Clone, Copy)]
enum T {
    I32,
    I64,
    Double,
    Str,
    Struct,
    List,
}

/// What a Thrift client writes; the compact and binary protocols below implement it.
trait Writer {
    /// A message header of `name`, type ONEWAY; the args struct is open.
    fn message(&mut self, name: &str);
    fn field(&mut self, t: T, id: i16);
    fn bool_field(&mut self, id: i16, v: bool);
    fn i32(&mut self, v: i32);
    fn i64(&mut self, v: i64);
    fn double(&mut self, v: f64);
    fn string(&mut self, s: &str);
    fn list(&mut self, element: T, n: usize);
    /// A struct value begins (its fields follow, then [`Writer::stop`]).
    fn begin(&mut self);
    fn stop(&mut self);
    fn bytes(self) -> Vec<u8>;
}

/// TCompactProtocol: zigzag varints, field-id deltas, type nibbles.
#[derive(Default)]
struct Compact {
    out: Vec<u8>,
    last: Vec<i16>,
}

impl Compact {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }
    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
    fn nibble(t: T) -> u8 {
        match t {
            T::I32 => 5,
            T::I64 => 6,
            T::Double => 7,
            T::Str => 8,
            T::List => 9,
            T::Struct => 12,
        }
    }
    fn header(&mut self, id: i16, nibble: u8) {
        let last = self.last.last_mut().unwrap();
        let delta = id - *last;
        *last = id;
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | nibble);
        } else {
            self.out.push(nibble);
            self.zigzag(i64::from(id));
        }
    }
}

impl Writer for Compact {
    fn message(&mut self, name: &str) {
        self.out.extend_from_slice(&[0x82, (4 << 5) | 1]);
        self.varint(1);
        self.string(name);
        self.last = vec![0];
    }
    fn field(&mut self, t: T, id: i16) {
        self.header(id, Self::nibble(t));
    }
    fn bool_field(&mut self, id: i16, v: bool) {
        self.header(id, if v { 1 } else { 2 });
    }
    fn i32(&mut self, v: i32) {
        self.zigzag(i64::from(v));
    }
    fn i64(&mut self, v: i64) {
        self.zigzag(v);
    }
    fn double(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }
    fn list(&mut self, element: T, n: usize) {
        let nibble = Self::nibble(element);
        if n < 15 {
            self.out.push(((n as u8) << 4) | nibble);
        } else {
            self.out.push(0xf0 | nibble);
            self.varint(n as u64);
        }
    }
    fn begin(&mut self) {
        self.last.push(0);
    }
    fn stop(&mut self) {
        self.out.push(0);
        self.last.pop();
    }
    fn bytes(self) -> Vec<u8> {
        self.out
    }
}

/// TBinaryProtocol (strict): big-endian fixed widths.
#[derive(Default)]
struct Binary(Vec<u8>);

impl Binary {
    fn code(t: T) -> u8 {
        match t {
            T::I32 => 8,
            T::I64 => 10,
            T::Double => 4,
            T::Str => 11,
            T::Struct => 12,
            T::List => 15,
        }
    }
}

impl Writer for Binary {
    fn message(&mut self, name: &str) {
        self.i32(0x8001_0004_u32 as i32);
        self.string(name);
        self.i32(1);
    }
    fn field(&mut self, t: T, id: i16) {
        self.0.push(Self::code(t));
        self.0.extend_from_slice(&id.to_be_bytes());
    }
    fn bool_field(&mut self, id: i16, v: bool) {
        self.0.push(2);
        self.0.extend_from_slice(&id.to_be_bytes());
        self.0.push(u8::from(v));
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn double(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn string(&mut self, s: &str) {
        self.i32(i32::try_from(s.len()).unwrap());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn list(&mut self, element: T, n: usize) {
        self.0.push(Self::code(element));
        self.i32(i32::try_from(n).unwrap());
    }
    fn begin(&mut self) {}
    fn stop(&mut self) {
        self.0.push(0);
    }
    fn bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A buffer Apache Thrift's protocols write into while the test keeps a handle on it.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Apache Thrift's Rust protocol writers (`thrift` crate), another implementation than ours.
struct Apache<P> {
    protocol: P,
    out: Shared,
}

impl Apache<TCompactOutputProtocol<Shared>> {
    fn compact() -> Self {
        let out = Shared::default();
        Apache {
            protocol: TCompactOutputProtocol::new(out.clone()),
            out,
        }
    }
}

impl Apache<TBinaryOutputProtocol<Shared>> {
    /// `strict`: the versioned message header (false: the old one, name first).
    fn binary(strict: bool) -> Self {
        let out = Shared::default();
        Apache {
            protocol: TBinaryOutputProtocol::new(out.clone(), strict),
            out,
        }
    }
}

fn ttype(t: T) -> TType {
    match t {
        T::I32 => TType::I32,
        T::I64 => TType::I64,
        T::Double => TType::Double,
        T::Str => TType::String,
        T::Struct => TType::Struct,
        T::List => TType::List,
    }
}

impl<P: TOutputProtocol> Writer for Apache<P> {
    fn message(&mut self, name: &str) {
        let head = TMessageIdentifier::new(name, TMessageType::OneWay, 1);
        self.protocol.write_message_begin(&head).unwrap();
        self.begin();
    }
    fn field(&mut self, t: T, id: i16) {
        let field = TFieldIdentifier::new("f", ttype(t), id);
        self.protocol.write_field_begin(&field).unwrap();
    }
    fn bool_field(&mut self, id: i16, v: bool) {
        let field = TFieldIdentifier::new("f", TType::Bool, id);
        self.protocol.write_field_begin(&field).unwrap();
        self.protocol.write_bool(v).unwrap();
    }
    fn i32(&mut self, v: i32) {
        self.protocol.write_i32(v).unwrap();
    }
    fn i64(&mut self, v: i64) {
        self.protocol.write_i64(v).unwrap();
    }
    fn double(&mut self, v: f64) {
        self.protocol.write_double(v).unwrap();
    }
    fn string(&mut self, s: &str) {
        self.protocol.write_string(s).unwrap();
    }
    fn list(&mut self, element: T, n: usize) {
        let list = TListIdentifier::new(ttype(element), i32::try_from(n).unwrap());
        self.protocol.write_list_begin(&list).unwrap();
    }
    fn begin(&mut self) {
        let name = TStructIdentifier::new("s");
        self.protocol.write_struct_begin(&name).unwrap();
    }
    fn stop(&mut self) {
        self.protocol.write_field_stop().unwrap();
        self.protocol.write_struct_end().unwrap();
    }
    fn bytes(mut self) -> Vec<u8> {
        self.protocol.write_message_end().unwrap();
        self.protocol.flush().unwrap();
        self.out.0.take()
    }
}

/// A string `Tag` struct.
fn tag(w: &mut impl Writer, key: &str, value: &str) {
    w.begin();
    w.field(T::Str, 1);
    w.string(key);
    w.field(T::I32, 2);
    w.i32(0);
    w.field(T::Str, 3);
    w.string(value);
    w.stop();
}

/// jaeger.thrift `Batch` (as a struct value): process `udp-svc` with two tags, one span
/// `name` with string, bool, long and double tags and a log.
fn batch(w: &mut impl Writer, name: &str) {
    w.begin();
    w.field(T::Struct, 1);
    w.begin();
    w.field(T::Str, 1);
    w.string("udp-svc");
    w.field(T::List, 2);
    w.list(T::Struct, 2);
    tag(w, "client-uuid", "abc");
    tag(w, "hostname", "agent-host");
    w.stop();
    w.field(T::List, 2);
    w.list(T::Struct, 1);
    w.begin();
    for (id, v) in [(1, 0x0a0b), (2, 0x01), (3, 0x77), (4, 0)] {
        w.field(T::I64, id);
        w.i64(v);
    }
    w.field(T::Str, 5);
    w.string(name);
    w.field(T::I32, 7);
    w.i32(1);
    w.field(T::I64, 8);
    w.i64(1_700_000_000_000_000);
    w.field(T::I64, 9);
    w.i64(1_500);
    w.field(T::List, 10);
    w.list(T::Struct, 4);
    tag(w, "span.kind", "client");
    w.begin();
    w.field(T::Str, 1);
    w.string("error");
    w.field(T::I32, 2);
    w.i32(2);
    w.bool_field(5, true);
    w.stop();
    w.begin();
    w.field(T::Str, 1);
    w.string("retries");
    w.field(T::I32, 2);
    w.i32(3);
    w.field(T::I64, 6);
    w.i64(-42);
    w.stop();
    w.begin();
    w.field(T::Str, 1);
    w.string("ratio");
    w.field(T::I32, 2);
    w.i32(1);
    w.field(T::Double, 4);
    w.double(0.25);
    w.stop();
    w.field(T::List, 11);
    w.list(T::Struct, 1);
    w.begin();
    w.field(T::I64, 1);
    w.i64(1_700_000_000_000_100);
    w.field(T::List, 2);
    w.list(T::Struct, 1);
    tag(w, "event", "checkpoint");
    w.stop();
    w.stop();
    w.stop();
}

/// One agent datagram: `method(1: batch)` as a oneway message.
fn datagram<W: Writer + Default>(method: &str, name: &str) -> Vec<u8> {
    datagram_by(W::default(), method, name)
}

/// [`datagram`] written by `w`.
fn datagram_by(mut w: impl Writer, method: &str, name: &str) -> Vec<u8> {
    w.message(method);
    w.field(T::Struct, 1);
    batch(&mut w, name);
    w.stop();
    w.bytes()
}

/// The bare binary `Batch` a Jaeger client posts to `/api/traces`.
fn http_body(name: &str) -> Vec<u8> {
    let mut w = Binary::default();
    batch(&mut w, name);
    // `batch` wrote the struct's STOP; a bare body is the struct's fields and that STOP.
    w.bytes()
}

trait Pipe: Writer + Sized {
    /// This writer's `emitBatch` datagram of a span `name`.
    fn pipe(self, name: &str) -> Vec<u8> {
        datagram_by(self, "emitBatch", name)
    }
}

impl<W: Writer> Pipe for W {}

/// A UDP port that was free a moment ago on 127.0.0.1.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Ports {
    compact: u16,
    binary: u16,
    http: u16,
    metrics: u16,
}

/// A collector with the three Thrift intakes of `jaeger` on free ports (`extra` lines under
/// `thrift_compact`) into the traces pipeline next to OTLP.
fn start(backend: &Backend, extra: &str) -> (Collector, Ports) {
    start_with_shards(backend, extra, "")
}

/// As [`start`], with `shards` lines added under `shards:`.
fn start_with_shards(backend: &Backend, extra: &str, shards: &str) -> (Collector, Ports) {
    let ports = Ports {
        compact: free_udp_port(),
        binary: free_udp_port(),
        http: free_port(),
        metrics: free_port(),
    };
    let receiver = format!(
        "  jaeger:\n    protocols:\n      thrift_binary:\n        endpoint: 127.0.0.1:{}\n      thrift_http:\n        endpoint: 127.0.0.1:{}\n      thrift_compact:\n        endpoint: 127.0.0.1:{}\n{extra}",
        ports.binary, ports.http, ports.compact
    );
    let yaml = Config::to_backend(backend)
        .yaml()
        .replacen("receivers:\n", &format!("receivers:\n{receiver}"), 1)
        .replacen(
            "  telemetry:\n",
            &format!(
                "  telemetry:\n    metrics:\n      address: 127.0.0.1:{}\n",
                ports.metrics
            ),
            1,
        )
        .replacen(
            "traces:\n      receivers: [otlp]",
            "traces:\n      receivers: [otlp, jaeger]",
            1,
        )
        .replacen("shards:\n", &format!("shards:\n{shards}"), 1);
    (Collector::start_yaml(&yaml), ports)
}

fn send(port: u16, datagram: &[u8]) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(datagram, ("127.0.0.1", port)).unwrap();
}

fn spans_counted(metrics: u16, what: &str, transport: &str) -> f64 {
    common::metric_sum(
        metrics,
        &format!("otelcol_receiver_{what}_spans_total{{receiver=\"jaeger\""),
        &format!("transport=\"{transport}\""),
    )
}

fn named<'a>(spans: &'a [Flat<OtlpSpan>], name: &str) -> &'a Flat<OtlpSpan> {
    spans
        .iter()
        .find(|s| s.item.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

/// Scenario: one batch sent as compact datagrams and binary datagrams (ours, and Apache
/// Thrift's writers: compact, strict binary, old binary header), and posted to
/// `/api/traces`. Guarantee: all six spans arrive, each once, mapped alike (resource, ids,
/// times, kind, status, attributes, events), counted as accepted under otelcol's transport
/// labels.
#[test]
fn agent_datagrams_arrive_mapped_as_thrift_http() {
    let backend = Backend::start();
    let (_collector, ports) = start(&backend, "");
    let datagrams = [
        (
            ports.compact,
            datagram::<Compact>("emitBatch", "compact-span"),
        ),
        (ports.binary, datagram::<Binary>("emitBatch", "binary-span")),
        (ports.compact, Apache::compact().pipe("apache-compact")),
        (ports.binary, Apache::binary(true).pipe("apache-binary")),
        (
            ports.binary,
            Apache::binary(false).pipe("apache-binary-old"),
        ),
    ];
    for (port, datagram) in &datagrams {
        send(*port, datagram);
    }
    let response = post(
        ports.http,
        "/api/traces",
        "application/x-thrift",
        None,
        &http_body("http-span"),
    );
    assert_eq!(response.status, 202);
    assert!(backend.wait_for_items(6, 0, 0, WAIT), "6 spans delivered");
    std::thread::sleep(Duration::from_millis(300));
    let spans = backend.spans();
    assert_eq!(spans.len(), 6, "each span once");

    let http = named(&spans, "http-span");
    assert_eq!(http.item.kind, SpanKind::Client as i32);
    assert_eq!(
        http.item.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    assert_eq!(http.item.events[0].name, "checkpoint");
    let host = http
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == "host.name")
        .and_then(|kv| kv.value.as_ref()?.value.clone());
    assert_eq!(host, Some(Value::StringValue("agent-host".into())));
    for name in [
        "compact-span",
        "binary-span",
        "apache-compact",
        "apache-binary",
        "apache-binary-old",
    ] {
        let mut udp = named(&spans, name).clone();
        udp.item.name = "http-span".into();
        assert_eq!(&udp, http, "{name} mapped as the Thrift HTTP span");
    }
    for (transport, n) in [
        ("udp_thrift_compact", 2.0),
        ("udp_thrift_binary", 3.0),
        ("collector_http", 1.0),
    ] {
        assert_eq!(
            spans_counted(ports.metrics, "accepted", transport),
            n,
            "{transport}"
        );
    }
}

/// Scenario: datagrams that are not Thrift, a truncated `emitBatch`, the agent's
/// `emitZipkinBatch`, a binary message on the compact port, and one over `max_packet_size`.
/// Guarantee: each is dropped and counted as failed, nothing reaches the backend, and the
/// socket then takes a valid datagram; on SIGTERM the collector drains and exits 0.
#[test]
fn bad_datagrams_are_dropped_and_counted_as_failed() {
    let backend = Backend::start();
    let (mut collector, ports) = start(&backend, "        max_packet_size: 2000\n");
    let whole = datagram::<Compact>("emitBatch", "valid");
    let oversized = {
        let mut w = Compact::default();
        w.message("emitBatch");
        w.field(T::Str, 9);
        w.string(&"x".repeat(3000));
        w.stop();
        w.bytes()
    };
    let bad: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &whole[..whole.len() / 2],
        &datagram::<Compact>("emitZipkinBatch", "zipkin"),
        &datagram::<Binary>("emitBatch", "wrong-port"),
        &oversized,
    ];
    // One sender socket, so every datagram reaches the same shard, in order.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in bad {
        socket
            .send_to(datagram, ("127.0.0.1", ports.compact))
            .unwrap();
    }
    socket
        .send_to(&whole, ("127.0.0.1", ports.compact))
        .unwrap();
    assert!(
        backend.wait_for_items(1, 0, 0, WAIT),
        "the valid span arrives"
    );
    assert!(common::wait_until(WAIT, || {
        spans_counted(ports.metrics, "failed", "udp_thrift_compact") >= 5.0
    }));
    std::thread::sleep(Duration::from_millis(300));
    let spans = backend.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].item.name, "valid");
    assert_eq!(
        spans_counted(ports.metrics, "failed", "udp_thrift_compact"),
        5.0,
        "each bad datagram counted once"
    );
    assert_eq!(
        spans_counted(ports.metrics, "accepted", "udp_thrift_compact"),
        1.0
    );
    // The shards stop reading their UDP sockets when they drain, and the process exits 0.
    collector.sigterm();
    let status = collector.wait_exit(WAIT + Duration::from_secs(10));
    let logs = collector.logs();
    assert!(status.success(), "exit status {status}; logs:\n{logs}");
    assert!(logs.contains(common::SHUTDOWN_LINE), "logs:\n{logs}");
}

/// Scenario: the shard may hold less pending data than one batch (`pending_bytes_max: 64`),
/// and a compact and a binary datagram arrive. Guarantee: UDP cannot ask for a retry, so the
/// batches are dropped and their spans counted as refused (not failed); nothing reaches the
/// backend.
#[test]
fn batches_refused_for_load_are_dropped_and_counted_as_refused() {
    let backend = Backend::start();
    let (_collector, ports) = start_with_shards(&backend, "", "  pending_bytes_max: 64\n");
    send(ports.compact, &datagram::<Compact>("emitBatch", "c"));
    send(ports.binary, &datagram::<Binary>("emitBatch", "b"));
    let refused = |transport| spans_counted(ports.metrics, "refused", transport);
    assert!(
        common::wait_until(WAIT, || refused("udp_thrift_compact") == 1.0
            && refused("udp_thrift_binary") == 1.0),
        "one refused span per port"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(backend.spans().is_empty());
    for transport in ["udp_thrift_compact", "udp_thrift_binary"] {
        assert_eq!(spans_counted(ports.metrics, "failed", transport), 0.0);
        assert_eq!(spans_counted(ports.metrics, "accepted", transport), 0.0);
    }
}

/// Scenario: `validate` on the OpenTelemetry Collector Helm chart's default `jaeger` block.
/// Guarantee: it validates.
#[test]
fn helm_chart_default_jaeger_block_validates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "receivers:\n  jaeger:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:14250\n      thrift_compact:\n        endpoint: 0.0.0.0:6831\n      thrift_http:\n        endpoint: 0.0.0.0:14268\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [jaeger]\n      exporters: [debug]\n",
    )
    .unwrap();
    let out = std::process::Command::new(common::binary())
        .args(["validate", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = common::strip_ansi(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
}

/// Scenario: a second shardgate is started with the UDP port of one already running (whose
/// shards bound it with SO_REUSEPORT). Guarantee: the second refuses to start, naming the
/// address, instead of silently taking a share of the first one's datagrams.
#[test]
fn a_second_instance_on_the_same_udp_port_fails_startup() {
    let backend = Backend::start();
    let (_first, ports) = start(&backend, "");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!("receivers:\n  jaeger:\n    protocols:\n      thrift_compact:\n        endpoint: 127.0.0.1:{}\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [jaeger]\n      exporters: [debug]\nshards:\n  cores: 1\n", ports.compact),
    )
    .unwrap();
    let mut second = std::process::Command::new(common::binary())
        .args(["--config", path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = common::wait_until(WAIT, || second.try_wait().unwrap().is_some());
    if !exited {
        second.kill().unwrap();
    }
    let out = second.wait_with_output().unwrap();
    let stderr = common::strip_ansi(&String::from_utf8_lossy(&out.stderr));
    assert!(exited, "the second instance kept running: {stderr}");
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", ports.compact)) && stderr.contains("in use"),
        "{stderr}"
    );
    // The first instance still takes datagrams on the port.
    send(ports.compact, &datagram::<Compact>("emitBatch", "after"));
    assert!(backend.wait_for_items(1, 0, 0, WAIT));
}
