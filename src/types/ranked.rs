//! An ordered sequence with positions, the order behind the sorted set's
//! `skiplist` encoding: sorted blocks of at most [`BLOCK`] entries, each
//! block's entries below the next block's. Finding an entry is a binary
//! search over the blocks' last entries, then one within a block; a
//! position is the sizes of the blocks before it plus an offset. Ranks and
//! range starts cost O(log n + n / BLOCK), the next entries of a range are
//! neighbours in memory.

/// Most entries in one block; a fuller one splits in two.
const BLOCK: usize = 512;

#[derive(Clone, Debug, PartialEq)]
pub struct Ranked<T> {
    /// Never empty blocks.
    blocks: Vec<Vec<T>>,
    /// Each block's length, packed apart: positions add these up, and a
    /// run of small integers sums far faster than block headers.
    lens: Vec<u32>,
    len: usize,
}

impl<T> Default for Ranked<T> {
    fn default() -> Self {
        Ranked {
            blocks: Vec::new(),
            lens: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Ord> Ranked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// How many leading entries `pred` holds for; it must hold for a
    /// prefix of the order (as for `slice::partition_point`).
    pub fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let b = self
            .blocks
            .partition_point(|blk| pred(blk.last().expect("blocks are never empty")));
        let before: usize = self.lens[..b].iter().map(|&l| l as usize).sum();
        match self.blocks.get(b) {
            Some(blk) => before + blk.partition_point(pred),
            None => before,
        }
    }

    /// (block, offset) of position `pos` < len.
    fn locate(&self, mut pos: usize) -> (usize, usize) {
        // Whole runs of blocks first: their sums vectorize.
        let mut first = 0;
        for run in self.lens.chunks(32) {
            let sum: usize = run.iter().map(|&l| l as usize).sum();
            if pos < sum {
                break;
            }
            pos -= sum;
            first += run.len();
        }
        for (b, &l) in self.lens[first..].iter().enumerate() {
            let l = l as usize;
            if pos < l {
                return (first + b, pos);
            }
            pos -= l;
        }
        (self.blocks.len(), 0)
    }

    /// The block `item` belongs in: the first whose last entry is not
    /// below it (or the last block).
    fn block_for(&self, item: &T) -> usize {
        let b = self
            .blocks
            .partition_point(|blk| blk.last().expect("blocks are never empty") < item);
        b.min(self.blocks.len().saturating_sub(1))
    }

    /// Inserts `item` after the entries below it (and before equal ones).
    pub fn insert(&mut self, item: T) {
        self.len += 1;
        if self.blocks.is_empty() {
            let mut blk = Vec::with_capacity(BLOCK + 1);
            blk.push(item);
            self.blocks.push(blk);
            self.lens.push(1);
            return;
        }
        let b = self.block_for(&item);
        let blk = &mut self.blocks[b];
        let i = blk.partition_point(|x| x < &item);
        blk.insert(i, item);
        self.lens[b] += 1;
        if blk.len() > BLOCK {
            // Both halves keep room for a block's worth: no regrowth.
            let mut tail = Vec::with_capacity(BLOCK + 1);
            tail.extend(blk.drain(BLOCK / 2..));
            self.lens[b] = (BLOCK / 2) as u32;
            self.lens.insert(b + 1, tail.len() as u32);
            self.blocks.insert(b + 1, tail);
        }
    }

    /// Removes an entry equal to `item`; whether there was one.
    pub fn remove(&mut self, item: &T) -> bool {
        if self.blocks.is_empty() {
            return false;
        }
        let b = self.block_for(item);
        let blk = &mut self.blocks[b];
        let i = blk.partition_point(|x| x < item);
        if blk.get(i) != Some(item) {
            return false;
        }
        blk.remove(i);
        self.len -= 1;
        self.lens[b] -= 1;
        let left = blk.len();
        if left == 0 {
            self.blocks.remove(b);
            self.lens.remove(b);
        } else if left < BLOCK / 8
            && let Some(next) = self.blocks.get(b + 1)
            && left + next.len() <= BLOCK
        {
            // Keep blocks from thinning out: many small blocks make
            // positions slow.
            let next = self.blocks.remove(b + 1);
            self.lens[b] += self.lens.remove(b + 1);
            self.blocks[b].extend(next);
        }
        true
    }

    /// The entries from position `pos` on, ascending.
    pub fn iter_from(&self, pos: usize) -> impl Iterator<Item = &T> {
        let (b, i) = self.locate(pos);
        self.blocks
            .get(b..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(move |(k, blk)| blk[if k == 0 { i } else { 0 }..].iter())
    }

    /// The entries before position `end`, descending.
    pub fn iter_back_from(&self, end: usize) -> impl Iterator<Item = &T> {
        let (b, i) = match end.min(self.len) {
            0 => (0, 0),
            end => {
                let (b, i) = self.locate(end - 1);
                (b + 1, i + 1)
            }
        };
        self.blocks[..b]
            .iter()
            .rev()
            .enumerate()
            .flat_map(move |(k, blk)| blk[..if k == 0 { i } else { blk.len() }].iter().rev())
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.blocks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a sorted Vec through random inserts and removes, with
        /// enough entries to split and merge blocks.
        #[test]
        fn behaves_like_a_sorted_vec(ops in proptest::collection::vec((0u8..4, 0u32..3000), 0..3000)) {
            let mut r = Ranked::default();
            let mut model: Vec<u32> = Vec::new();
            for (op, v) in ops {
                if op == 0 {
                    let i = model.partition_point(|x| *x < v);
                    let found = model.get(i) == Some(&v);
                    if found {
                        model.remove(i);
                    }
                    prop_assert_eq!(r.remove(&v), found);
                } else {
                    let i = model.partition_point(|x| *x < v);
                    model.insert(i, v);
                    r.insert(v);
                }
                prop_assert_eq!(r.len(), model.len());
            }
            prop_assert!(r.iter().eq(model.iter()));
            for probe in [0, 1, 1500, 2999, 3000] {
                prop_assert_eq!(
                    r.partition_point(|x| *x < probe),
                    model.partition_point(|x| *x < probe)
                );
            }
            for pos in [0, 1, model.len() / 2, model.len().saturating_sub(1), model.len(), model.len() + 5] {
                prop_assert_eq!(r.iter_from(pos).next(), model.get(pos));
                prop_assert!(r.iter_from(pos).eq(model.iter().skip(pos)));
                let back: Vec<&u32> = model[..pos.min(model.len())].iter().rev().collect();
                prop_assert!(r.iter_back_from(pos).eq(back.into_iter()));
            }
        }
    }
}
