//! The answer side of one server stream.

use std::future::poll_fn;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::SendStream;
use http::{HeaderMap, Response};

use super::guard::{Abuse, Tripwire};
use crate::IoError;

/// Answers one request; a client that leaves the answer unsendable past the send timeout
/// (its flow-control window kept shut) has its whole connection closed.
pub struct Respond {
    inner: SendResponse<Bytes>,
    trip: Rc<Tripwire>,
    send_timeout: Duration,
}

impl Respond {
    pub(crate) fn new(
        inner: SendResponse<Bytes>,
        trip: Rc<Tripwire>,
        send_timeout: Duration,
    ) -> Self {
        Respond {
            inner,
            trip,
            send_timeout,
        }
    }

    /// Sends a response without a body (HEADERS with END_STREAM): headers are not
    /// flow-controlled, so this never waits.
    pub fn send_headers_only(mut self, response: Response<()>) -> Result<(), IoError> {
        self.inner.send_response(response, true)?;
        Ok(())
    }

    /// Sends `head`, then `body` once the client's window has room for it, then `trailers`.
    pub async fn send(
        mut self,
        head: Response<()>,
        body: Bytes,
        trailers: HeaderMap,
    ) -> Result<(), IoError> {
        let mut stream = self.inner.send_response(head, false)?;
        if !body.is_empty() {
            let want = body.len();
            stream.reserve_capacity(want);
            // With an open window `h2` grants the capacity inside `reserve_capacity`, so the
            // common case does not wait.
            if stream.capacity() < want
                && crate::timer::timeout(self.send_timeout, capacity(&mut stream, want))
                    .await
                    .is_none()
            {
                self.trip.trip(Abuse::StalledReader);
                return Err(IoError::Timeout(self.send_timeout));
            }
        }
        stream.send_data(body, false)?;
        stream.send_trailers(trailers)?;
        Ok(())
    }
}

/// Waits until `want` bytes of window are assigned to the stream, or it closes (the send that
/// follows then reports why).
async fn capacity(stream: &mut SendStream<Bytes>, want: usize) {
    while stream.capacity() < want {
        match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return,
        }
    }
}
