//! Reading one HTTP/1.1 response off a client connection: the head with `httparse`, interim
//! 1xx heads skipped, then the body by its framing, each within its size limit.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::{fill, Attempt, Conn, Http1Error, Http1Response};
use super::{INTERIM_RESPONSES_MAX, RESPONSE_HEADERS_MAX, RESPONSE_HEAD_BYTES_MAX};

/// How the body is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: StatusCode,
    headers: HeaderMap,
    framing: Framing,
    keep_alive: bool,
}

/// Reads one final response; returns it and whether the connection can be reused.
pub(super) async fn read_response(
    conn: &mut Conn,
    body_max: usize,
) -> Result<(Http1Response, bool), Attempt> {
    let mut interim = 0;
    let mut first = true;
    let head = loop {
        let head = read_head(conn, first).await?;
        first = false;
        if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS {
            interim += 1;
            if interim > INTERIM_RESPONSES_MAX {
                return Err(Http1Error::Malformed("too many 1xx responses".into()).into());
            }
            continue;
        }
        break head;
    };
    let no_body = head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED;
    let (body, reusable) = match head.framing {
        _ if no_body => (Bytes::new(), head.keep_alive),
        Framing::Length(len) => {
            if len > body_max {
                return Err(too_large("body", body_max).into());
            }
            while conn.leftover.len() < len {
                if !fill(conn).await.map_err(Http1Error::from)? {
                    return Err(Http1Error::Closed.into());
                }
            }
            (conn.leftover.split_to(len).freeze(), head.keep_alive)
        }
        Framing::Chunked => (read_chunked(conn, body_max).await?, head.keep_alive),
        Framing::UntilClose => {
            while fill(conn).await.map_err(Http1Error::from)? {
                if conn.leftover.len() > body_max {
                    return Err(too_large("body", body_max).into());
                }
            }
            (conn.leftover.split().freeze(), false)
        }
    };
    let response = Http1Response {
        status: head.status,
        headers: head.headers,
        body,
    };
    Ok((response, reusable))
}

fn too_large(part: &'static str, limit_bytes: usize) -> Http1Error {
    Http1Error::TooLarge { part, limit_bytes }
}

/// Reads and parses a response head; failures before any byte on the first head are `Stale`.
async fn read_head(conn: &mut Conn, first: bool) -> Result<Head, Attempt> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
        let mut parsed = httparse::Response::new(&mut fields);
        match parsed.parse(&conn.leftover) {
            Ok(httparse::Status::Complete(len)) => {
                let head = interpret(&parsed)?;
                let _ = conn.leftover.split_to(len);
                return Ok(head);
            }
            Ok(httparse::Status::Partial) => {}
            Err(error) => return Err(Http1Error::Malformed(error.to_string()).into()),
        }
        if conn.leftover.len() > RESPONSE_HEAD_BYTES_MAX {
            return Err(too_large("head", RESPONSE_HEAD_BYTES_MAX).into());
        }
        let nothing_yet = first && conn.leftover.is_empty();
        match fill(conn).await {
            Ok(true) => {}
            Ok(false) if nothing_yet => return Err(Attempt::Stale(Http1Error::Closed)),
            Ok(false) => return Err(Http1Error::Closed.into()),
            Err(error) if nothing_yet => return Err(Attempt::Stale(error.into())),
            Err(error) => return Err(Http1Error::from(error).into()),
        }
    }
}

fn interpret(parsed: &httparse::Response<'_, '_>) -> Result<Head, Http1Error> {
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map_err(|_| Http1Error::Malformed(format!("status code {code}")))?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| Http1Error::Malformed(format!("header name {:?}", field.name)))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| Http1Error::Malformed(format!("value of header {name}")))?;
        headers.append(name, value);
    }
    let has_token = |name: HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or_default()
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    // HTTP/1.1 is persistent unless `Connection: close`; HTTP/1.0 only with keep-alive.
    let keep_alive = if parsed.version == Some(1) {
        !has_token(http::header::CONNECTION, "close")
    } else {
        has_token(http::header::CONNECTION, "keep-alive")
    };
    // RFC 9112 §6.3: chunked wins over Content-Length.
    let framing = if has_token(http::header::TRANSFER_ENCODING, "chunked") {
        Framing::Chunked
    } else if let Some(value) = headers.get(http::header::CONTENT_LENGTH) {
        let len = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| Http1Error::Malformed("invalid Content-Length".into()))?;
        Framing::Length(len)
    } else {
        Framing::UntilClose
    };
    Ok(Head {
        status,
        headers,
        framing,
        keep_alive,
    })
}

/// Decodes a chunked body (RFC 9112 §7.1), trailers read and discarded.
async fn read_chunked(conn: &mut Conn, body_max: usize) -> Result<Bytes, Http1Error> {
    let mut body = BytesMut::new();
    loop {
        let size = loop {
            match httparse::parse_chunk_size(&conn.leftover) {
                Ok(httparse::Status::Complete((used, size))) => {
                    let _ = conn.leftover.split_to(used);
                    break usize::try_from(size).unwrap_or(usize::MAX);
                }
                Ok(httparse::Status::Partial) => {
                    if conn.leftover.len() > RESPONSE_HEAD_BYTES_MAX {
                        return Err(Http1Error::Malformed("chunk size line too long".into()));
                    }
                    if !fill(conn).await? {
                        return Err(Http1Error::Closed);
                    }
                }
                Err(_) => return Err(Http1Error::Malformed("invalid chunk size".into())),
            }
        };
        if size == 0 {
            skip_trailers(conn).await?;
            return Ok(body.freeze());
        }
        if body.len().saturating_add(size) > body_max {
            return Err(too_large("body", body_max));
        }
        let needed = size.saturating_add(2);
        while conn.leftover.len() < needed {
            if !fill(conn).await? {
                return Err(Http1Error::Closed);
            }
        }
        body.extend_from_slice(&conn.leftover.split_to(size));
        if conn.leftover.split_to(2).as_ref() != b"\r\n" {
            return Err(Http1Error::Malformed("chunk not followed by CRLF".into()));
        }
    }
}

/// Consumes trailer fields up to and including the empty line that ends the message.
async fn skip_trailers(conn: &mut Conn) -> Result<(), Http1Error> {
    loop {
        if let Some(end) = conn.leftover.windows(2).position(|w| w == b"\r\n") {
            let line = conn.leftover.split_to(end + 2);
            if line.len() == 2 {
                return Ok(());
            }
            continue;
        }
        if conn.leftover.len() > RESPONSE_HEAD_BYTES_MAX {
            return Err(too_large("head", RESPONSE_HEAD_BYTES_MAX));
        }
        if !fill(conn).await? {
            return Err(Http1Error::Closed);
        }
    }
}
