//! The consistent-hash ring that picks a backend for a routing key.
//!
//! Properties kept (those of otelcol's loadbalancing exporter, so a mixed fleet of otelcol and
//! shardgate load balancers agrees on owners):
//! 1. The circle has [`RING_POSITIONS`] positions; each endpoint takes [`POINTS_PER_ENDPOINT`]
//!    of them: point `i` sits at `crc32(endpoint bytes ++ [i as u8]) % RING_POSITIONS`
//!    (CRC-32/IEEE, the checksum Go's `hash/crc32` computes by default).
//! 2. A position already taken by an earlier endpoint is not taken again; endpoints are placed
//!    in sorted order, so the ring depends only on the set of endpoints, never on the order a
//!    resolver reported them in: every shard of every process builds the same ring.
//! 3. A key's owner is the endpoint of the first point at or after `crc32(key) %
//!    RING_POSITIONS`, wrapping to the first point of the circle.
//!
//! Adding an endpoint moves only the keys whose nearest following point is now one of its
//! points: about `1/(n+1)` of them (the unit test measures it).

/// Positions on the circle: 360 degrees with two decimals, as otelcol.
pub const RING_POSITIONS: u32 = 36_000;

/// Points each endpoint takes on the circle (otelcol's default weight); more points even out
/// the shares at the cost of a larger ring.
pub const POINTS_PER_ENDPOINT: u32 = 100;

/// An immutable ring over a set of endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    /// The endpoints, sorted and unique; an owner is an index into this list.
    endpoints: Vec<String>,
    /// (position, endpoint index), sorted by position, one entry per taken position.
    points: Vec<(u32, usize)>,
}

impl Ring {
    /// The ring of `endpoints` (in any order, duplicates ignored).
    pub fn new<S: AsRef<str>>(endpoints: &[S]) -> Ring {
        let mut sorted: Vec<String> = endpoints.iter().map(|e| e.as_ref().to_owned()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut taken = vec![false; RING_POSITIONS as usize];
        let mut points = Vec::with_capacity(sorted.len() * POINTS_PER_ENDPOINT as usize);
        for (index, endpoint) in sorted.iter().enumerate() {
            for point in 0..POINTS_PER_ENDPOINT {
                let position = point_position(endpoint, point);
                if let Some(slot) = taken.get_mut(position as usize) {
                    if !*slot {
                        *slot = true;
                        points.push((position, index));
                    }
                }
            }
        }
        points.sort_unstable();
        Ring {
            endpoints: sorted,
            points,
        }
    }

    /// The endpoints, sorted; [`Ring::owner`] indexes into it.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Whether the ring has no endpoint.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The index of the endpoint that owns `key`, `None` for an empty ring.
    pub fn owner(&self, key: &[u8]) -> Option<usize> {
        let position = crc32fast::hash(key) % RING_POSITIONS;
        let next = self.points.partition_point(|(p, _)| *p < position);
        self.points
            .get(next)
            .or_else(|| self.points.first())
            .map(|(_, index)| *index)
    }

    /// The endpoint that owns `key`.
    pub fn owner_endpoint(&self, key: &[u8]) -> Option<&str> {
        self.owner(key)
            .and_then(|i| self.endpoints.get(i))
            .map(String::as_str)
    }
}

/// Where point `point` of `endpoint` sits. Only the low byte of `point` is hashed, as otelcol
/// does (it writes `byte(i)`); with 100 points per endpoint no two points collide on that.
fn point_position(endpoint: &str, point: u32) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(endpoint.as_bytes());
    hasher.update(&[point as u8]);
    hasher.finalize() % RING_POSITIONS
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys(n: u32) -> Vec<[u8; 16]> {
        (0..n)
            .map(|i| {
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&i.to_le_bytes());
                id[8..12].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
                id
            })
            .collect()
    }

    #[test]
    fn the_same_endpoints_give_the_same_owner_whatever_their_order() {
        let a = Ring::new(&["b:4317", "a:4317", "c:4317", "a:4317"]);
        let b = Ring::new(&["c:4317", "b:4317", "a:4317"]);
        assert_eq!(a, b);
        assert_eq!(a.endpoints(), ["a:4317", "b:4317", "c:4317"]);
        for key in keys(1000) {
            assert_eq!(a.owner_endpoint(&key), b.owner_endpoint(&key));
        }
        // A fixed point of the function, so a change of hash or placement is caught.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(Ring::new::<&str>(&[]).owner(b"x"), None);
        assert_eq!(Ring::new(&["only:1"]).owner_endpoint(b"x"), Some("only:1"));
    }

    #[test]
    fn every_endpoint_takes_a_fair_share() {
        let ring = Ring::new(&["10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"]);
        let mut counts = [0u32; 3];
        for key in keys(30_000) {
            counts[ring.owner(&key).unwrap()] += 1;
        }
        for count in counts {
            assert!((5_000..15_000).contains(&count), "{counts:?}");
        }
    }

    /// Scenario: a 4-endpoint ring gains a fifth. Guarantee: only keys now owned by the new
    /// endpoint move (about a fifth of them), none moves between the old four.
    #[test]
    fn a_fifth_endpoint_moves_about_a_fifth_of_the_keys() {
        let four = ["h1:4317", "h2:4317", "h3:4317", "h4:4317"];
        let before = Ring::new(&four);
        let after = Ring::new(&["h1:4317", "h2:4317", "h3:4317", "h4:4317", "h5:4317"]);
        let all = keys(100_000);
        let mut moved = 0usize;
        for key in &all {
            let (old, new) = (before.owner_endpoint(key), after.owner_endpoint(key));
            if old != new {
                assert_eq!(new, Some("h5:4317"), "a key moved between old endpoints");
                moved += 1;
            }
        }
        let share = moved as f64 / all.len() as f64;
        println!("share of keys moved when a 4-endpoint ring gains a fifth: {share:.3}");
        assert!((0.10..0.30).contains(&share), "{share}");
    }
}
