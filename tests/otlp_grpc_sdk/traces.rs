//! Traces from the SDK's tonic span exporter.

use super::*;

/// Scenario: the SDK's batch span processor exports 40 spans (8 of them children, every span
/// with typed attributes, two events, a link with trace state, a status, a kind) through the
/// gzip-compressing tonic exporter to shardgate with two shards. Guarantee: the backend gets
/// every span exactly once, byte-for-byte what the SDK exported (ids, parent, name, kind,
/// times, attributes, events, links, status), under the SDK's resource (service.name etc.) and
/// scope (name, version, attributes, schema URL).
#[test]
fn sdk_traces_arrive_exactly_once_and_intact() {
    let s = setup();
    let guard = s.rt.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(s.config.grpc_url())
        .with_compression(opentelemetry_otlp::Compression::Gzip)
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("span exporter");
    let (exporter, sent) = tee::<_, ExportTraceServiceRequest>(exporter);
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource("sdk-traces"))
        .build();
    let tracer = provider.tracer_with_scope(scope("sdk-trace-scope"));

    let linked = SpanContext::new(
        TraceId::from_bytes([7; 16]),
        SpanId::from_bytes([9; 8]),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "abc"), ("other", "x-y")]).expect("trace state"),
    );
    let kinds = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    // name → (trace id, span id, parent span id)
    let mut made: BTreeMap<String, (TraceId, SpanId, Option<SpanId>)> = BTreeMap::new();
    for i in 0..32_usize {
        let name = format!("span-{i:02}");
        let mut span = tracer
            .span_builder(name.clone())
            .with_kind(kinds[i % kinds.len()].clone())
            .with_attributes(typed_attributes(i))
            .with_links(vec![Link::new(
                linked.clone(),
                vec![KeyValue::new("link.seq", i as i64)],
                0,
            )])
            .start(&tracer);
        span.add_event(
            "event.first",
            vec![
                KeyValue::new("event.seq", i as i64),
                KeyValue::new("event.ok", true),
            ],
        );
        span.add_event("event.second", vec![KeyValue::new("event.note", "second")]);
        match i % 3 {
            0 => span.set_status(Status::error(format!("failure {i}"))),
            1 => span.set_status(Status::Ok),
            _ => {}
        }
        let context = span.span_context().clone();
        made.insert(name.clone(), (context.trace_id(), context.span_id(), None));
        if i % 4 == 0 {
            let parent = Context::new().with_remote_span_context(context.clone());
            let child_name = format!("child-of-{i:02}");
            let mut child = tracer
                .span_builder(child_name.clone())
                .with_attributes(typed_attributes(100 + i))
                .start_with_context(&tracer, &parent);
            let child_context = child.span_context().clone();
            made.insert(
                child_name,
                (
                    child_context.trace_id(),
                    child_context.span_id(),
                    Some(context.span_id()),
                ),
            );
            child.end();
        }
        span.end();
    }
    drop(guard);
    provider.force_flush().expect("force_flush");
    provider.shutdown().expect("shutdown");
    sent.assert_no_failures();

    let expected = flatten_traces(&sent.requests());
    assert_eq!(
        expected.len(),
        made.len(),
        "the tee saw every span the SDK made"
    );
    settle(|| s.backend.spans().len(), expected.len());
    let actual = s.backend.spans();
    assert_same_items("span", &expected, &actual, |s: &Span| hex(&s.span_id));

    // Explicit checks: the SDK really produced what the test asked for, and it got through.
    let by_name: BTreeMap<&str, &Flat<Span>> =
        actual.iter().map(|f| (f.item.name.as_str(), f)).collect();
    assert_eq!(by_name.len(), made.len(), "span names are unique");
    for (name, (trace_id, span_id, parent)) in &made {
        let flat = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("span {name} missing"));
        let s = &flat.item;
        assert_eq!(s.trace_id, trace_id.to_bytes().to_vec(), "{name} trace id");
        assert_eq!(s.span_id, span_id.to_bytes().to_vec(), "{name} span id");
        assert_eq!(
            s.parent_span_id,
            parent.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
            "{name} parent"
        );
        assert_resource_and_scope(flat, "sdk-traces", "sdk-trace-scope", name);
        assert!(
            s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0,
            "{name} times"
        );
        let seq = int_attr(&s.attributes, "seq").expect("seq attribute") as usize;
        assert_typed_attributes(&s.attributes, seq, name);
        if parent.is_some() {
            continue;
        }
        let i = seq;
        let want_kind = [
            span::SpanKind::Internal,
            span::SpanKind::Server,
            span::SpanKind::Client,
            span::SpanKind::Producer,
            span::SpanKind::Consumer,
        ][i % 5];
        assert_eq!(s.kind, want_kind as i32, "{name} kind");
        let names: Vec<&str> = s.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["event.first", "event.second"], "{name} events");
        assert_eq!(
            int_attr(&s.events[0].attributes, "event.seq"),
            Some(i as i64),
            "{name} event attrs"
        );
        assert_eq!(s.links.len(), 1, "{name} links");
        let link = &s.links[0];
        assert_eq!(link.trace_id, vec![7; 16], "{name} link trace id");
        assert_eq!(link.span_id, vec![9; 8], "{name} link span id");
        let states: BTreeSet<&str> = link.trace_state.split(',').collect();
        assert_eq!(
            states,
            BTreeSet::from(["vendor=abc", "other=x-y"]),
            "{name} link trace state"
        );
        assert_eq!(
            int_attr(&link.attributes, "link.seq"),
            Some(i as i64),
            "{name} link attrs"
        );
        let st = s.status.clone().unwrap_or_default();
        match i % 3 {
            0 => {
                assert_eq!(st.code, status::StatusCode::Error as i32, "{name} status");
                assert_eq!(st.message, format!("failure {i}"), "{name} status message");
            }
            1 => assert_eq!(st.code, status::StatusCode::Ok as i32, "{name} status"),
            _ => assert_eq!(st.code, status::StatusCode::Unset as i32, "{name} status"),
        }
    }
    drop(s.collector);
}
