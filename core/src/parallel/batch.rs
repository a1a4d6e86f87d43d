//! Which rows of a step's batch this rank holds, and the mini-batches of an
//! epoch cut from one global shuffle, so `W` ranks iterate exactly the
//! mini-batches one process with the whole batch would.

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tz_dist::{DistError, ReduceOp, World};

/// This rank's rows `[offset, offset + local)` of a batch of `total` rows.
#[derive(Debug, Clone)]
pub struct BatchShard {
    world: World,
    offset: usize,
    local: usize,
    total: usize,
}

impl BatchShard {
    /// One process holding the whole batch of `rows`.
    pub fn single(rows: usize) -> BatchShard {
        BatchShard { world: World::single(), offset: 0, local: rows, total: rows }
    }

    /// Rows `[offset, offset + local)` of `total` (every rank must describe
    /// the same `total`, and the ranks' ranges must tile it in rank order).
    pub fn new(world: World, offset: usize, local: usize, total: usize) -> BatchShard {
        assert!(offset + local <= total, "rows {offset}..{} outside a batch of {total}", offset + local);
        BatchShard { world, offset, local, total }
    }

    /// Splits `groups` prompt groups of `group_size` rows (a prompt's `n`
    /// samples) as evenly as possible in rank order: a group never spans
    /// two ranks, so group statistics (GRPO) stay local.
    pub fn split_groups(world: World, groups: usize, group_size: usize) -> BatchShard {
        let mine = group_range(groups, world.rank(), world.size());
        BatchShard::new(world, mine.start * group_size, mine.len() * group_size, groups * group_size)
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// This rank's rows as global row indices.
    pub fn rows(&self) -> Range<usize> {
        self.offset..self.offset + self.local
    }

    /// Rows on this rank.
    pub fn local(&self) -> usize {
        self.local
    }

    /// Rows on all ranks together.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The mini-batches of one epoch: the global rows shuffled with `seed`
    /// (the same permutation one process would draw for the whole batch),
    /// cut into runs of `mini_batch` rows; for each, this rank's rows as
    /// local indices, in shuffled order. Possibly empty: every rank still
    /// takes part in every mini-batch's collectives.
    pub fn mini_batches(&self, seed: u64, mini_batch: usize) -> Vec<Vec<i64>> {
        let mut order: Vec<i64> = (0..self.total as i64).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mine = self.rows();
        order
            .chunks(mini_batch.max(1))
            .map(|chunk| {
                chunk
                    .iter()
                    .filter(|&&row| mine.contains(&(row as usize)))
                    .map(|&row| row - self.offset as i64)
                    .collect()
            })
            .collect()
    }

    /// Sums plain numbers over the ranks (counts, loss sums, metric sums).
    pub fn sum(&self, values: &mut [f64]) -> Result<(), DistError> {
        self.world.all_reduce_f64(values, ReduceOp::Sum)
    }
}

/// Rank `rank`'s share of `groups` among `size` ranks (sizes differ by at most one).
fn group_range(groups: usize, rank: usize, size: usize) -> Range<usize> {
    groups * rank / size..groups * (rank + 1) / size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rank_sees_the_plain_shuffled_epoch() {
        let shard = BatchShard::single(7);
        let minis = shard.mini_batches(3, 3);
        assert_eq!(minis.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
        let mut all: Vec<i64> = minis.concat();
        let mut expect: Vec<i64> = (0..7).collect();
        expect.shuffle(&mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(all, expect);
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn ranks_partition_each_global_mini_batch() {
        // Two ranks of 5 and 5 rows out of 10 (what split_groups gives for 5 groups of 2).
        let (a, b) = (BatchShard::new(World::single(), 0, 4, 10), BatchShard::new(World::single(), 4, 6, 10));
        let whole = BatchShard::single(10).mini_batches(9, 4);
        for (i, mb) in whole.iter().enumerate() {
            let from_a: Vec<i64> = a.mini_batches(9, 4)[i].clone();
            let from_b: Vec<i64> = b.mini_batches(9, 4)[i].iter().map(|r| r + 4).collect();
            let mut joined: Vec<i64> = from_a.iter().chain(&from_b).copied().collect();
            let mut expect = mb.clone();
            joined.sort();
            expect.sort();
            assert_eq!(joined, expect, "mini-batch {i}");
        }
    }

    #[test]
    fn group_shares_tile_the_batch_evenly() {
        for size in 1..5 {
            for groups in 0..12 {
                let shares: Vec<Range<usize>> = (0..size).map(|r| group_range(groups, r, size)).collect();
                assert_eq!(shares[0].start, 0);
                assert_eq!(shares[size - 1].end, groups);
                assert!(shares.windows(2).all(|w| w[0].end == w[1].start));
                let lens: Vec<usize> = shares.iter().map(|r| r.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{lens:?}");
            }
        }
        let one = BatchShard::split_groups(World::single(), 5, 3);
        assert_eq!((one.rows(), one.total()), (0..15, 15));
    }
}
