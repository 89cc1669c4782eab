//! Shard load: what each shard publishes to its peers, and the rule that turns it into how
//! much of its work a shard hands off.
//!
//! Each shard measures its own load every publish interval and sends it to every peer as a
//! small `Copy` message on the control channel ([`crate::control::ToShard::Load`]); each keeps
//! the last load it heard from every peer in a thread-local table (a single writer, its inbox
//! watcher). A shard's [`Balancer`] then decides what share of its requests goes to the
//! least-loaded peer.

use std::cell::RefCell;

/// One shard's load, each part in thousandths (0 idle, 1000 full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Share of wall time the executor ran tasks over the last interval.
    pub busy_permille: u16,
    /// Fill of the shard's pending-data budget (acknowledged, not yet delivered).
    pub pending_permille: u16,
    /// Fill of the shard's hand-off mailbox.
    pub queue_permille: u16,
}

impl Load {
    /// The part that limits the shard most.
    pub fn score(&self) -> u16 {
        self.busy_permille
            .max(self.pending_permille)
            .max(self.queue_permille)
    }
}

thread_local! {
    /// Peers' last published loads, by shard index (this shard's own entry unused).
    static PEERS: RefCell<Vec<Option<Load>>> = const { RefCell::new(Vec::new()) };
}

/// Records `load` as shard `shard`'s (the inbox watcher calls this).
pub fn set_peer(shard: usize, load: Load) {
    PEERS.with(|peers| {
        let mut peers = peers.borrow_mut();
        if peers.len() <= shard {
            peers.resize(shard + 1, None);
        }
        if let Some(slot) = peers.get_mut(shard) {
            *slot = Some(load);
        }
    });
}

/// The peer with the lowest score that has published, other than `me` (lowest index wins
/// a tie, so the choice is stable between two publishes).
pub fn least_loaded_peer(me: usize) -> Option<(usize, Load)> {
    PEERS.with(|peers| {
        peers
            .borrow()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .filter_map(|(i, l)| l.map(|l| (i, l)))
            .min_by_key(|(_, l)| l.score())
    })
}

/// The thresholds a [`Balancer`] acts on, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A shard this busy starts handing work off.
    pub busy_permille: u16,
    /// A shard whose pending budget is this full starts handing work off.
    pub pending_permille: u16,
    /// Most of its requests a shard hands off.
    pub max_share_permille: u16,
}

/// How far apart two scores must be before work moves: load measured over 50-100 ms jitters
/// by several percent, and moving work between two equally loaded shards only costs.
pub const MARGIN_PERMILLE: u16 = 100;
/// How much the share moves per publish interval: a few intervals from none to half.
pub const STEP_PERMILLE: u16 = 50;

/// One shard's hand-off share and the choice of which requests go.
#[derive(Debug, Default)]
pub struct Balancer {
    share_permille: u16,
    credit: u32,
}

impl Balancer {
    /// The share of requests handed off now, in thousandths.
    pub fn share_permille(&self) -> u16 {
        self.share_permille
    }

    /// Moves the share one step, given this shard's load and its least-loaded peer's:
    /// - up while this shard is clearly busier than that peer and either over a threshold
    ///   or already handing off (so a balance reached below the threshold holds);
    /// - down once the peer is clearly busier, or this shard is under half its threshold.
    pub fn update(&mut self, own: Load, peer: Option<Load>, t: &Thresholds) {
        let Some(peer) = peer else {
            self.share_permille = 0;
            return;
        };
        let (mine, theirs) = (own.score(), peer.score());
        let over =
            own.busy_permille >= t.busy_permille || own.pending_permille >= t.pending_permille;
        let quiet = own.busy_permille < t.busy_permille / 2
            && own.pending_permille < t.pending_permille / 2;
        if mine > theirs.saturating_add(MARGIN_PERMILLE) && (over || self.share_permille > 0) {
            self.share_permille = self
                .share_permille
                .saturating_add(STEP_PERMILLE)
                .min(t.max_share_permille);
        } else if theirs > mine.saturating_add(MARGIN_PERMILLE) || quiet {
            self.share_permille = self.share_permille.saturating_sub(STEP_PERMILLE);
        }
    }

    /// Whether the next request goes to a peer: spreads the share evenly over requests
    /// (every other one at 500), with no randomness.
    pub fn take(&mut self) -> bool {
        if self.share_permille == 0 {
            self.credit = 0;
            return false;
        }
        self.credit += u32::from(self.share_permille);
        if self.credit >= 1000 {
            self.credit -= 1000;
            true
        } else {
            false
        }
    }

    /// Gives back a request [`Balancer::take`] chose but that could not go (a full or
    /// closed mailbox): it stays here and does not count against the share.
    pub fn untake(&mut self) {
        self.credit = self.credit.saturating_add(1000).min(1999);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        busy_permille: 800,
        pending_permille: 500,
        max_share_permille: 500,
    };

    fn busy(permille: u16) -> Load {
        Load {
            busy_permille: permille,
            ..Load::default()
        }
    }

    #[test]
    fn a_hot_shard_ramps_up_to_the_cap_and_an_even_pair_moves_nothing() {
        let mut b = Balancer::default();
        for _ in 0..20 {
            b.update(busy(1000), Some(busy(50)), &T);
        }
        assert_eq!(b.share_permille(), 500);
        let mut even = Balancer::default();
        for _ in 0..20 {
            even.update(busy(950), Some(busy(900)), &T);
        }
        assert_eq!(even.share_permille(), 0);
    }

    #[test]
    fn a_balance_below_the_threshold_holds_and_quiet_unwinds_it() {
        let mut b = Balancer::default();
        for _ in 0..4 {
            b.update(busy(1000), Some(busy(0)), &T);
        }
        assert_eq!(b.share_permille(), 200);
        // Balanced at 60% each: under the threshold, not quiet, within the margin: hold.
        b.update(busy(600), Some(busy(550)), &T);
        assert_eq!(b.share_permille(), 200);
        // Still busier and already handing off: keep moving towards the peer.
        b.update(busy(700), Some(busy(450)), &T);
        assert_eq!(b.share_permille(), 250);
        // The peer is now the busier one: back off.
        b.update(busy(400), Some(busy(700)), &T);
        assert_eq!(b.share_permille(), 200);
        // Load gone: unwinds to nothing.
        for _ in 0..10 {
            b.update(busy(100), Some(busy(100)), &T);
        }
        assert_eq!(b.share_permille(), 0);
        // No peer has published: nothing moves.
        b.update(busy(1000), None, &T);
        assert_eq!(b.share_permille(), 0);
    }

    #[test]
    fn pending_data_counts_as_load() {
        let mut b = Balancer::default();
        let full = Load {
            busy_permille: 200,
            pending_permille: 700,
            queue_permille: 0,
        };
        b.update(full, Some(busy(100)), &T);
        assert_eq!(b.share_permille(), STEP_PERMILLE);
    }

    #[test]
    fn take_spreads_the_share_over_requests() {
        let mut b = Balancer {
            share_permille: 250,
            credit: 0,
        };
        let taken: Vec<bool> = (0..8).map(|_| b.take()).collect();
        assert_eq!(
            taken,
            [false, false, false, true, false, false, false, true]
        );
        b.untake();
        assert!(b.take());
    }

    #[test]
    fn the_least_loaded_peer_is_chosen() {
        set_peer(0, busy(900));
        set_peer(2, busy(300));
        set_peer(3, busy(100));
        assert_eq!(least_loaded_peer(3).map(|(i, _)| i), Some(2));
        assert_eq!(least_loaded_peer(0).map(|(i, _)| i), Some(3));
    }
}
