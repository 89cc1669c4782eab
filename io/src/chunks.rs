//! A message body made of several `Bytes` pieces, sent as they are.
//!
//! An export request is a few bytes of framing around each batched resource message, and the
//! resource messages are slices of the buffers the receiver read. As a [`Chunks`] body, h2
//! frames it without joining the pieces, and each DATA frame (head + pieces) goes out in one
//! vectored write: the batch is never copied on its way out.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes};

/// A body of `Bytes` pieces in order; empty pieces are never stored.
#[derive(Debug, Clone, Default)]
pub struct Chunks {
    pieces: VecDeque<Bytes>,
    remaining: usize,
}

impl Chunks {
    /// An empty body with room for `pieces` pieces.
    pub fn with_capacity(pieces: usize) -> Chunks {
        Chunks {
            pieces: VecDeque::with_capacity(pieces),
            remaining: 0,
        }
    }

    /// Appends `piece` (ignored when empty).
    pub fn push(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.remaining += piece.len();
            self.pieces.push_back(piece);
        }
    }

    /// Total bytes left.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether no bytes are left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &Bytes> {
        self.pieces.iter()
    }

    /// The body as one contiguous buffer (copies unless it is a single piece).
    pub fn to_bytes(&self) -> Bytes {
        match self.pieces.len() {
            0 => Bytes::new(),
            1 => self.pieces.front().cloned().unwrap_or_default(),
            _ => {
                let mut out = Vec::with_capacity(self.remaining);
                for piece in &self.pieces {
                    out.extend_from_slice(piece);
                }
                Bytes::from(out)
            }
        }
    }
}

impl From<Bytes> for Chunks {
    fn from(piece: Bytes) -> Chunks {
        let mut chunks = Chunks::with_capacity(1);
        chunks.push(piece);
        chunks
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.pieces.front().map_or(&[], |b| &b[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        cnt = cnt.min(self.remaining);
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.pieces.front_mut() else {
                break;
            };
            if cnt < front.len() {
                front.advance(cnt);
                break;
            }
            cnt -= front.len();
            self.pieces.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, piece) in dst.iter_mut().zip(&self.pieces) {
            *slot = IoSlice::new(piece);
            n += 1;
        }
        n
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // A request for exactly the front piece (h2 does this for small frames) is free.
        if let Some(front) = self.pieces.front() {
            if front.len() == len {
                self.remaining -= len;
                return self.pieces.pop_front().unwrap_or_default();
            }
        }
        let mut out = bytes::BytesMut::with_capacity(len);
        out.put((&mut *self).take(len));
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body() -> Chunks {
        let mut c = Chunks::with_capacity(4);
        for piece in [&b"ab"[..], b"", b"cde", b"f"] {
            c.push(Bytes::copy_from_slice(piece));
        }
        c
    }

    #[test]
    fn reads_back_in_order_across_pieces() {
        let mut c = body();
        assert_eq!(c.len(), 6);
        assert_eq!(c.to_bytes(), Bytes::from_static(b"abcdef"));
        c.advance(3);
        assert_eq!(c.chunk(), b"de");
        assert_eq!(c.copy_to_bytes(3), Bytes::from_static(b"def"));
        assert!(c.is_empty());
        assert!(!c.has_remaining());
    }

    #[test]
    fn vectored_view_lists_every_piece() {
        let c = body();
        let mut slots = [IoSlice::new(&[]); 8];
        let n = c.chunks_vectored(&mut slots);
        let joined: Vec<u8> = slots[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(n, 3);
        assert_eq!(joined, b"abcdef");
        let mut two = [IoSlice::new(&[]); 2];
        assert_eq!(c.chunks_vectored(&mut two), 2);
    }

    #[test]
    fn take_limits_the_vectored_view() {
        let c = body();
        let limited = c.take(4);
        let mut slots = [IoSlice::new(&[]); 8];
        let n = limited.chunks_vectored(&mut slots);
        let joined: Vec<u8> = slots[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"abcd");
    }
}
