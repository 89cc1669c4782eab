//! One HTTP answer of an admin listener.

/// Answers `request` with `status`, `content_type` and `body`; a client gone away is not an
/// error worth more than a debug line.
pub fn respond(request: tiny_http::Request, status: u16, content_type: &str, body: String) {
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", content_type) {
        response = response.with_header(header);
    }
    if let Err(error) = request.respond(response) {
        tracing::debug!(%error, "admin client went away");
    }
}
