//! The guard's frame scanning, budgets and farewell, unit by unit.

use super::*;

fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags, 0, 0, 0, 1]);
    out.extend_from_slice(payload);
    out
}

#[test]
fn frame_heads_are_found_across_any_read_boundaries() {
    let mut stream = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    stream.extend(frame(SETTINGS, 0, &[0; 6]));
    stream.extend(frame(HEADERS, 0x4, &[1; 20]));
    stream.extend(frame(DATA, 0x1, &[2; 300]));
    stream.extend(frame(PING, ACK, &[0; 8]));
    let want = vec![(SETTINGS, 6), (HEADERS, 20), (DATA, 300), (PING, 8)];
    for chunk in [1, 2, 7, 9, 10, 64, stream.len()] {
        let mut scan = FrameScan::default();
        let mut seen = Vec::new();
        for piece in stream.chunks(chunk) {
            scan.feed(piece, |h| seen.push((h.kind, h.len)));
        }
        assert_eq!(seen, want, "read in pieces of {chunk}");
    }
}

#[test]
fn a_bucket_refuses_past_its_burst_and_refills() {
    let mut bucket = Bucket::new(3, 0);
    assert!(bucket.take() && bucket.take() && bucket.take());
    assert!(!bucket.take());
    bucket.fill();
    assert!(bucket.take());
}

#[test]
fn the_first_reason_wins() {
    let trip = Tripwire::default();
    assert_eq!(trip.tripped(), None);
    trip.trip(Abuse::ResetFlood);
    trip.trip(Abuse::ControlFlood);
    assert_eq!(trip.tripped(), Some(Abuse::ResetFlood));
}

fn ping_policy(min_time_secs: u64) -> Option<Enforcement> {
    Some(Enforcement {
        min_time: Duration::from_secs(min_time_secs),
        permit_without_stream: false,
    })
}

fn guarded(enforcement: Option<Enforcement>) -> Guarded<Vec<u8>> {
    let activity = Rc::new(Activity::new(Instant::now()));
    let trip = Rc::new(Tripwire::default());
    Guarded::new(Vec::new(), Limits::default(), enforcement, trip, activity)
}

fn write_all(guarded: &mut Guarded<Vec<u8>>, mut bytes: &[u8], piece: usize) {
    let mut cx = Context::from_waker(Waker::noop());
    while !bytes.is_empty() {
        let end = piece.min(bytes.len());
        match Pin::new(&mut *guarded).poll_write(&mut cx, &bytes[..end]) {
            Poll::Ready(Ok(n)) => bytes = &bytes[n..],
            other => panic!("write: {other:?}"),
        }
    }
}

fn frames_in(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= FRAME_HEAD_LEN {
        let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        frames.push((rest[3], rest[FRAME_HEAD_LEN..FRAME_HEAD_LEN + len].to_vec()));
        rest = &rest[FRAME_HEAD_LEN + len..];
    }
    assert!(rest.is_empty(), "a frame was cut: {rest:?}");
    frames
}

#[test]
fn the_farewell_goaway_follows_the_frame_under_way_and_nothing_after_it() {
    let data = frame(DATA, 0, &[5; 100]);
    let mut reset = frame(RST_STREAM, 0, &[0, 0, 0, 8]);
    reset.extend(frame(GOAWAY, 0, &[0; 8]));
    for piece in [1, 9, 10, 64, 200] {
        let mut guarded = guarded(ping_policy(10));
        // h2 is 50 bytes into a DATA frame when the client strikes out.
        write_all(&mut guarded, &data[..50], piece);
        let mut pings = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        pings.extend(frame(HEADERS, 0x4, &[1; 4]));
        for i in 0..5u8 {
            pings.extend(frame(PING, 0, &[i; 8]));
        }
        guarded.inspect(&pings);
        assert_eq!(guarded.trip.tripped(), Some(Abuse::TooManyPings));
        let mut rest = data[50..].to_vec();
        rest.extend(&reset);
        write_all(&mut guarded, &rest, piece);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            Pin::new(&mut guarded).poll_shutdown(&mut cx),
            Poll::Ready(Ok(()))
        ));
        let frames = frames_in(&guarded.io);
        let kinds: Vec<u8> = frames.iter().map(|f| f.0).collect();
        assert_eq!(kinds, vec![DATA, GOAWAY], "written in pieces of {piece}");
        let (last_stream, code) = (&frames[1].1[..4], &frames[1].1[4..8]);
        assert_eq!(last_stream, [0, 0, 0, 1], "stream 1 was the last opened");
        assert_eq!(code, [0, 0, 0, 0xb], "ENHANCE_YOUR_CALM");
        assert_eq!(&frames[1].1[8..], TOO_MANY_PINGS);
    }
}

#[test]
fn each_answer_the_server_writes_clears_the_strikes() {
    let pings = |from: u8| -> Vec<u8> {
        let mut out = Vec::new();
        for i in from..from + 3 {
            out.extend(frame(PING, 0, &[i; 8]));
        }
        out
    };
    let mut strict = guarded(ping_policy(10));
    let mut first = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    first.extend(pings(0));
    strict.inspect(&first);
    // Two strikes so far; the server's response headers clear them.
    write_all(&mut strict, &frame(HEADERS, 0x4, &[1; 4]), 4);
    strict.inspect(&pings(3));
    assert_eq!(strict.trip.tripped(), None, "cleared by the answer");
    strict.inspect(&pings(6));
    assert_eq!(strict.trip.tripped(), Some(Abuse::TooManyPings));
    let mut relaxed = guarded(None);
    relaxed.inspect(&[first, pings(3), pings(6)].concat());
    assert_eq!(relaxed.trip.tripped(), None, "no policy: only the budget");
}
