//! The record format of a segment file: a length, a checksum and a sequence number before
//! each payload, so that replay after a crash finds exactly the records that were written
//! whole and stops at the first one that was not.
//!
//! Wire format (little-endian), records back to back from offset 0:
//! ```text
//! len: u32   payload bytes; 0 with crc 0 is the zero padding a synced partial block ends in
//! crc: u32   CRC-32 (IEEE) of seq and payload
//! seq: u64   the record's number in its queue, increasing by one per record
//! payload: len bytes
//! ```
//! An *end marker* is a header with `len` = `u32::MAX`, the checksum of its number and an empty
//! payload, and the number the next record will have: the page-cache writer puts one after
//! the data of each flush, because a recycled segment file holds older records after it.
//!
//! A record is valid only if it fits in the bytes read, its checksum matches and its number
//! follows the previous one; an end marker, or a whole record with an older number, ends the
//! segment cleanly (stale bytes of a recycled file, or that a reused write buffer padded a
//! killed writer's last block with). Replay keeps the valid prefix and reports how the rest looked:
//! clean padding, a torn record (a crash during the write) or corruption, with its offset, so
//! the caller can cut the file there, count and log it. Garbage is never replayed.

/// Bytes before each payload.
pub const HEADER_BYTES: usize = 16;

/// Largest payload a record may carry (a request's bodies stay far below it).
pub const PAYLOAD_BYTES_MAX: usize = 256 << 20;

/// Why a payload cannot be written as a record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The payload is larger than [`PAYLOAD_BYTES_MAX`].
    #[error("a record payload of {0} bytes is over the {PAYLOAD_BYTES_MAX}-byte limit")]
    TooLarge(usize),
}

/// The header of record `seq` whose payload is `parts` back to back: what precedes the
/// payload on disk.
pub fn header(seq: u64, parts: &[&[u8]]) -> Result<[u8; HEADER_BYTES], RecordError> {
    let size: usize = parts.iter().map(|p| p.len()).sum();
    if size > PAYLOAD_BYTES_MAX {
        return Err(RecordError::TooLarge(size));
    }
    // Checked above: the length fits u32.
    let len = size as u32;
    let mut header = [0u8; HEADER_BYTES];
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[4..8].copy_from_slice(&checksum(seq, parts).to_le_bytes());
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    Ok(header)
}

/// `len` of an end marker.
const END_LEN: u32 = u32::MAX;

/// The end marker to write after the last record when the next record will be `next_seq`.
pub fn end_marker(next_seq: u64) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[0..4].copy_from_slice(&END_LEN.to_le_bytes());
    header[4..8].copy_from_slice(&checksum(next_seq, &[]).to_le_bytes());
    header[8..16].copy_from_slice(&next_seq.to_le_bytes());
    header
}

fn checksum(seq: u64, parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    parts.iter().for_each(|p| hasher.update(p));
    hasher.finalize()
}

/// One valid record found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its number in the queue.
    pub seq: u64,
    /// Where its header starts in the segment.
    pub offset: usize,
    /// Its payload.
    pub payload: &'a [u8],
}

/// How a segment's bytes ended after its last valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// At the end of the bytes, or in the zero padding a sync leaves: nothing was lost.
    Clean,
    /// A record started at `offset` but its bytes stop short: a write cut by a crash.
    Torn {
        /// Where the cut record starts; the segment is valid up to here.
        offset: usize,
    },
    /// The bytes at `offset` are not a valid record (bad checksum, out-of-order number, a
    /// length past the limit): corruption, or a torn write whose padding was not zeros.
    Corrupt {
        /// Where the invalid bytes start; the segment is valid up to here.
        offset: usize,
    },
}

/// The valid records of a segment and how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan<'a> {
    /// Every valid record, in order.
    pub records: Vec<Record<'a>>,
    /// What followed the last one.
    pub end: End,
}

impl Scan<'_> {
    /// The length of the segment's valid prefix: where new records may be appended.
    pub fn valid_bytes(&self) -> usize {
        match self.end {
            End::Torn { offset } | End::Corrupt { offset } => offset,
            End::Clean => self
                .records
                .last()
                .map_or(0, |r| r.offset + HEADER_BYTES + r.payload.len()),
        }
    }
}

/// Reads the records of `bytes`, the first expected to be number `first_seq` (`None`: any).
pub fn scan(bytes: &[u8], first_seq: Option<u64>) -> Scan<'_> {
    let mut records = Vec::new();
    let mut offset = 0;
    let mut expected = first_seq;
    let end = loop {
        let rest = &bytes[offset..];
        if rest.is_empty() {
            break End::Clean;
        }
        let Some(header) = rest.get(..HEADER_BYTES) else {
            break tail_of(rest, offset);
        };
        let word = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let (len, crc) = (word(0) as usize, word(4));
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&header[8..16]);
        let seq = u64::from_le_bytes(seq_bytes);
        if len == 0 && crc == 0 {
            break tail_of(rest, offset);
        }
        if word(0) == END_LEN {
            // Ours if it checks out and is not ahead of the records before it (an older one
            // is stale, as an older record is).
            let ours = checksum(seq, &[]) == crc && expected.is_none_or(|e| seq <= e);
            break match ours {
                true => End::Clean,
                false => End::Corrupt { offset },
            };
        }
        if len > PAYLOAD_BYTES_MAX {
            break End::Corrupt { offset };
        }
        let Some(payload) = rest.get(HEADER_BYTES..HEADER_BYTES + len) else {
            break End::Torn { offset };
        };
        if checksum(seq, &[payload]) != crc {
            break End::Corrupt { offset };
        }
        match expected {
            // A whole record older than the one before it: stale bytes a reused write buffer
            // padded the last block with (see `shardgate_io::segment_file`), not damage.
            Some(e) if seq < e => break End::Clean,
            Some(e) if seq != e => break End::Corrupt { offset },
            _ => {}
        }
        records.push(Record {
            seq,
            offset,
            payload,
        });
        expected = seq.checked_add(1);
        offset += HEADER_BYTES + len;
    };
    Scan { records, end }
}

/// What the bytes after the last record are: zero padding is clean, anything else in a
/// space too short or marked empty is a torn write.
fn tail_of(rest: &[u8], offset: usize) -> End {
    if rest.iter().all(|b| *b == 0) {
        End::Clean
    } else {
        End::Torn { offset }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Appends record `seq` with `payload` to `out`, as the log writes it.
    fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        let header = header(seq, &[payload])?;
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
        Ok(())
    }
    use proptest::prelude::*;

    fn segment(payloads: &[&[u8]], first: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            encode(first + i as u64, p, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn records_round_trip_and_padding_is_clean() {
        let mut bytes = segment(&[b"one", b"", b"three"], 7);
        let end = bytes.len();
        bytes.resize(4096, 0);
        let scan = scan(&bytes, Some(7));
        let got: Vec<(u64, &[u8])> = scan.records.iter().map(|r| (r.seq, r.payload)).collect();
        assert_eq!(got, [(7, &b"one"[..]), (8, b""), (9, b"three")]);
        assert_eq!(scan.end, End::Clean);
        assert_eq!(scan.valid_bytes(), end);
    }

    #[test]
    fn a_cut_record_is_torn_and_a_flipped_byte_is_corrupt() {
        let bytes = segment(&[b"alpha", b"beta"], 0);
        let second = HEADER_BYTES + 5;
        let cut = scan(&bytes[..bytes.len() - 1], None);
        assert_eq!(cut.records.len(), 1);
        assert_eq!(cut.end, End::Torn { offset: second });
        let mut flipped = bytes.clone();
        flipped[second + HEADER_BYTES] ^= 0x40;
        let bad = scan(&flipped, None);
        assert_eq!(bad.records.len(), 1);
        assert_eq!(bad.end, End::Corrupt { offset: second });
        assert_eq!(bad.valid_bytes(), second);
        // A number that jumps ahead is corruption too.
        let other = segment(&[b"alpha"], 0);
        let mut mixed = other.clone();
        mixed.extend(segment(&[b"beta"], 5));
        assert_eq!(scan(&mixed, None).end, End::Corrupt { offset: second });
    }

    /// Scenario: a killed writer's last block padded with stale bytes of older records (its
    /// reused write buffer's). Guarantee: replay ends cleanly after the new records, whether
    /// the stale bytes start at a record or inside one.
    #[test]
    fn stale_records_after_the_last_end_it_cleanly() {
        let fresh = segment(&[b"new one", b"new two"], 40);
        let stale = segment(&[b"old", b"older", b"oldest"], 3);
        let mut at_record = fresh.clone();
        at_record.extend(&stale[HEADER_BYTES + 3..]);
        let replay = scan(&at_record, None);
        assert_eq!(replay.records.len(), 2);
        assert_eq!(
            (replay.end, replay.valid_bytes()),
            (End::Clean, fresh.len())
        );
        assert_eq!(scan(&stale, Some(9)).end, End::Clean);
        let mut inside = fresh.clone();
        inside.extend(&stale[5..]);
        assert_eq!(scan(&inside, None).records.len(), 2);
    }

    /// Scenario: a recycled segment file: new records, the end marker of the last flush, then
    /// whatever the file held before (here whole records with higher numbers, as after a
    /// restart). Guarantee: replay ends cleanly at the marker; a marker at the start is an
    /// empty segment; a marker numbered ahead of the records is corruption.
    #[test]
    fn an_end_marker_ends_the_segment_whatever_follows() {
        let mut bytes = segment(&[b"new one", b"new two"], 40);
        let fresh = bytes.len();
        bytes.extend_from_slice(&end_marker(42));
        bytes.extend(segment(&[b"old", b"older"], 43));
        let replay = scan(&bytes, None);
        assert_eq!(replay.records.len(), 2);
        assert_eq!((replay.end, replay.valid_bytes()), (End::Clean, fresh));
        let mut empty = end_marker(7).to_vec();
        empty.extend(segment(&[b"old"], 3));
        let replay = scan(&empty, None);
        assert_eq!((replay.records.len(), replay.end), (0, End::Clean));
        let mut ahead = segment(&[b"new one"], 40);
        ahead.extend_from_slice(&end_marker(45));
        assert_eq!(scan(&ahead, None).end, End::Corrupt { offset: fresh / 2 });
        let mut forged = segment(&[b"new one"], 40);
        let mut marker = end_marker(41);
        marker[5] ^= 1;
        forged.extend_from_slice(&marker);
        assert!(matches!(scan(&forged, None).end, End::Corrupt { .. }));
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let huge = vec![0u8; PAYLOAD_BYTES_MAX + 1];
        assert_eq!(
            encode(0, &huge, &mut Vec::new()),
            Err(RecordError::TooLarge(PAYLOAD_BYTES_MAX + 1))
        );
    }

    proptest! {
        /// A segment cut anywhere replays exactly the records that were whole before the cut.
        #[test]
        fn any_cut_replays_a_prefix(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..12),
            cut in any::<prop::sample::Index>(),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let bytes = segment(&refs, 100);
            let at = if bytes.is_empty() { 0 } else { cut.index(bytes.len() + 1) };
            let scan = scan(&bytes[..at], Some(100));
            let whole = {
                let mut end = 0;
                let mut n = 0;
                for p in &payloads {
                    end += HEADER_BYTES + p.len();
                    if end > at { break; }
                    n += 1;
                }
                n
            };
            prop_assert_eq!(scan.records.len(), whole);
            for (r, p) in scan.records.iter().zip(&payloads) {
                prop_assert_eq!(r.payload, p.as_slice());
            }
            prop_assert!(scan.valid_bytes() <= at);
        }

        /// Arbitrary bytes never panic the scan and never yield a record whose checksum fails.
        #[test]
        fn garbage_yields_only_checked_records(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let scan = scan(&bytes, None);
            for r in &scan.records {
                prop_assert_eq!(checksum(r.seq, &[r.payload]).to_le_bytes(), [
                    bytes[r.offset + 4], bytes[r.offset + 5], bytes[r.offset + 6], bytes[r.offset + 7]
                ]);
            }
            prop_assert!(scan.valid_bytes() <= bytes.len());
        }

        /// One flipped bit anywhere: the records before it survive intact, nothing after it
        /// is replayed as if it were whole.
        #[test]
        fn a_flipped_bit_cuts_at_its_record(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 1..8),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let mut bytes = segment(&refs, 0);
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let scan = scan(&bytes, Some(0));
            for r in &scan.records {
                prop_assert!(r.offset + HEADER_BYTES + r.payload.len() <= i);
                prop_assert_eq!(r.payload, payloads[r.seq as usize].as_slice());
            }
            prop_assert!(scan.end != End::Clean || scan.records.len() == payloads.len());
        }
    }
}
