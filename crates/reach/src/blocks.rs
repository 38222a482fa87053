//! The blocks a scan classifies, sorted by address, and the index that
//! finds the block holding any address.
//!
//! A scan asks "which block does this word point into?" once for every
//! word of the roots and of every block it reaches — a gigabyte of heap is
//! 128 M questions — so the answer must cost a few memory accesses that
//! stay in the cache, not a binary search over millions of blocks.
//!
//! The index is a bitmap of block starts, one bit per granule (16 bytes:
//! glibc returns 16-byte-aligned blocks, so every start is on a granule;
//! a coarser table is used if some start is not), with the number of
//! starts before each 64-bit word beside it. The block holding `v` is the
//! last start at or before `v`: the highest set bit at or below `v`'s bit,
//! its index the rank of that bit. For a gigabyte of heap the bitmap and
//! the ranks take 12 MiB, which stays in the last-level cache. Starts far
//! apart (another arena, a block of its own mapping) begin a new *run*, so
//! that the gaps between them cost nothing.

/// Starts further apart than this begin a new run (see the module docs).
const RUN_GAP: u64 = 1 << 20;

/// A word looked up in the [`BlockTable`]: the block it points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The block's index in the table (address order).
    pub index: u32,
    /// Whether the word points at the block's first byte (valgrind's
    /// "start pointer"); otherwise into its interior.
    pub start: bool,
}

/// A run of blocks whose starts lie close together.
#[derive(Debug)]
struct Run {
    /// Address of its first block (granule-aligned).
    base: u64,
    /// One past the last byte of any of its blocks.
    limit: u64,
    /// Index of its first block.
    first: u32,
    /// Index one past its last block.
    last: u32,
    /// One bit per granule from `base`: a block starts there.
    bits: Vec<u64>,
    /// Blocks starting before each word of `bits`.
    rank: Vec<u32>,
}

/// Live blocks sorted by address, with the index that answers which block
/// an address points into.
#[derive(Debug)]
pub struct BlockTable {
    starts: Vec<u64>,
    sizes: Vec<u64>,
    runs: Vec<Run>,
    /// The first run's base (fast rejection of small values).
    low: u64,
    /// One past the end of the highest block.
    high: u64,
    /// log2 of the granule.
    shift: u32,
}

/// Why blocks cannot form a table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    /// Two blocks start at the same address.
    #[error("two live blocks start at address {0:#x}")]
    Duplicate(u64),
    /// More blocks than a 32-bit index can count.
    #[error("{0} live blocks are more than a scan can classify (at most 4,294,967,295)")]
    TooMany(usize),
}

impl BlockTable {
    /// Builds the table from `(address, size)` pairs in any order.
    pub fn new(mut blocks: Vec<(u64, u64)>) -> Result<BlockTable, BlockError> {
        if blocks.len() >= u32::MAX as usize {
            return Err(BlockError::TooMany(blocks.len()));
        }
        blocks.sort_unstable_by_key(|&(start, _)| start);
        if let Some(w) = blocks.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(BlockError::Duplicate(w[0].0));
        }
        let mut starts = crate::huge::filled(blocks.len(), 0u64);
        let mut sizes = crate::huge::filled(blocks.len(), 0u64);
        for (i, &(start, size)) in blocks.iter().enumerate() {
            starts[i] = start;
            sizes[i] = size;
        }
        drop(blocks);
        let align = starts.iter().fold(0u64, |acc, &s| acc | s);
        let shift = align.trailing_zeros().min(4);
        let mut table = BlockTable {
            runs: Vec::new(),
            low: starts.first().copied().unwrap_or(u64::MAX),
            high: 0,
            shift,
            starts,
            sizes,
        };
        table.build_runs();
        Ok(table)
    }

    fn build_runs(&mut self) {
        let n = self.starts.len();
        let mut first = 0;
        while first < n {
            let mut last = first + 1;
            while last < n && self.starts[last] - self.starts[last - 1] <= RUN_GAP {
                last += 1;
            }
            let base = self.starts[first] >> self.shift << self.shift;
            let granules = ((self.starts[last - 1] - base) >> self.shift) + 1;
            let mut bits = crate::huge::filled(granules.div_ceil(64) as usize, 0u64);
            let mut limit = 0;
            for i in first..last {
                let g = (self.starts[i] - base) >> self.shift;
                bits[(g >> 6) as usize] |= 1 << (g & 63);
                limit = limit.max(self.end(i as u32));
            }
            let mut rank = crate::huge::filled(bits.len(), 0u32);
            let mut before = 0u32;
            for (slot, word) in rank.iter_mut().zip(&bits) {
                *slot = before;
                before += word.count_ones();
            }
            self.high = self.high.max(limit);
            self.runs.push(Run {
                base,
                limit,
                first: first as u32,
                last: last as u32,
                bits,
                rank,
            });
            first = last;
        }
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Address of block `index`.
    #[inline]
    pub fn start(&self, index: u32) -> u64 {
        self.starts[index as usize]
    }

    /// Size of block `index`.
    #[inline]
    pub fn size(&self, index: u32) -> u64 {
        self.sizes[index as usize]
    }

    /// One past the last address that points into block `index`: a block
    /// of size 0 is pointed to by its address (as valgrind treats it).
    #[inline]
    pub fn end(&self, index: u32) -> u64 {
        let i = index as usize;
        self.starts[i] + self.sizes[i].max(1)
    }

    /// The index of the first block that starts at or after `address`
    /// (`len()` if none does).
    pub fn first_start_at_or_after(&self, address: u64) -> u32 {
        self.starts.partition_point(|&s| s < address) as u32
    }

    /// Whether any block starts in `[start, end)`.
    pub fn any_start_in(&self, start: u64, end: u64) -> bool {
        let i = self.starts.partition_point(|&s| s < start);
        i < self.starts.len() && self.starts[i] < end
    }

    /// The block `value` points into, if any.
    #[inline]
    pub fn find(&self, value: u64) -> Option<Hit> {
        if value < self.low || value >= self.high {
            return None;
        }
        let run = match self.runs.len() {
            1 => &self.runs[0],
            _ => {
                let i = self.runs.partition_point(|r| r.base <= value);
                &self.runs[i.checked_sub(1)?]
            }
        };
        if value >= run.limit {
            return None;
        }
        let granule = (value - run.base) >> self.shift;
        let (mut word, mut mask) = match usize::try_from(granule >> 6) {
            Ok(w) if w < run.bits.len() => (w, u64::MAX >> (63 - (granule & 63))),
            // Past the run's last start: inside its last blocks, if anywhere.
            _ => (run.bits.len() - 1, u64::MAX),
        };
        let mut steps = 0;
        let bits = loop {
            let bits = run.bits[word] & mask;
            if bits != 0 {
                break bits;
            }
            steps += 1;
            if word == 0 || steps > 8 {
                // Far inside a large block: search the starts instead.
                return self.find_slow(run, value);
            }
            word -= 1;
            mask = u64::MAX;
        };
        let bit = 63 - bits.leading_zeros();
        let below = run.bits[word] & ((1u64 << bit) - 1);
        let index = run.first + run.rank[word] + below.count_ones();
        let start = run.base + (((word as u64) << 6 | u64::from(bit)) << self.shift);
        self.hit(index, start, value)
    }

    /// Asks the CPU to bring in what [`BlockTable::find`] will read for
    /// `value` (its bitmap word and rank), so that many lookups can wait
    /// for memory at once.
    #[inline]
    pub fn prefetch(&self, value: u64) {
        if value < self.low || value >= self.high {
            return;
        }
        let run = match self.runs.len() {
            1 => &self.runs[0],
            _ => {
                let i = self.runs.partition_point(|r| r.base <= value);
                match i.checked_sub(1) {
                    Some(i) => &self.runs[i],
                    None => return,
                }
            }
        };
        let word = (((value - run.base) >> self.shift) >> 6) as usize;
        if word < run.bits.len() {
            crate::scan::prefetch_line(&run.bits[word]);
            crate::scan::prefetch_line(&run.rank[word]);
        }
    }

    fn find_slow(&self, run: &Run, value: u64) -> Option<Hit> {
        let blocks = &self.starts[run.first as usize..run.last as usize];
        let i = blocks.partition_point(|&s| s <= value).checked_sub(1)?;
        let index = run.first + i as u32;
        self.hit(index, blocks[i], value)
    }

    #[inline]
    fn hit(&self, index: u32, start: u64, value: u64) -> Option<Hit> {
        if value == start {
            return Some(Hit { index, start: true });
        }
        (value - start < self.sizes[index as usize]).then_some(Hit {
            index,
            start: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer by the obvious search, to check the index against.
    fn naive(blocks: &[(u64, u64)], value: u64) -> Option<(u64, bool)> {
        blocks
            .iter()
            .find(|&&(s, n)| value >= s && value < s + n.max(1))
            .map(|&(s, _)| (s, value == s))
    }

    fn check(blocks: Vec<(u64, u64)>, probes: impl Iterator<Item = u64>) {
        let table = BlockTable::new(blocks.clone()).unwrap();
        for value in probes {
            let got = table.find(value).map(|h| (table.start(h.index), h.start));
            assert_eq!(got, naive(&blocks, value), "value {value:#x}");
        }
    }

    #[test]
    fn starts_interiors_and_gaps_are_told_apart() {
        let blocks = vec![(0x1000, 24), (0x1020, 0), (0x1040, 100), (0x10c0, 16)];
        check(blocks, 0xf00..0x1200);
    }

    #[test]
    fn blocks_in_far_apart_runs_and_a_large_block_between() {
        let blocks = vec![
            (0x5555_0000_1000, 32),
            (0x5555_0000_1030, 3 << 20),
            (0x5555_0030_2000, 48),
            (0x7f00_0000_0010, 200_000),
            (0x7f00_1000_0000, 8),
        ];
        let probes: Vec<u64> = blocks
            .iter()
            .flat_map(|&(s, n)| {
                [
                    s - 1,
                    s,
                    s + 1,
                    s + 8,
                    s + n / 2,
                    s + n - 1,
                    s + n,
                    s + n + 8,
                ]
            })
            .collect();
        check(blocks, probes.into_iter());
    }

    #[test]
    fn eight_byte_aligned_starts_use_a_finer_table() {
        let blocks = vec![(0x2008, 8), (0x2010, 8), (0x2018, 24)];
        let table = BlockTable::new(blocks.clone()).unwrap();
        assert_eq!(table.shift, 3);
        check(blocks, 0x2000..0x2040);
    }

    #[test]
    fn many_random_blocks_agree_with_the_obvious_search() {
        // A deterministic pseudo-random layout of glibc-like chunks.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut blocks = Vec::new();
        let mut at = 0x5600_0000_0000u64;
        for _ in 0..3000 {
            let size = next() % 300;
            if next() % 3 != 0 {
                blocks.push((at, size));
            }
            at += (size + 8).div_ceil(16) * 16 + 16 * (next() % 4);
            if next().is_multiple_of(500) {
                at += 8 << 20;
            }
        }
        let probes: Vec<u64> = (0..20_000)
            .map(|_| 0x5600_0000_0000 + next() % (at - 0x5600_0000_0000 + 64))
            .collect();
        check(blocks, probes.into_iter());
    }

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(
            BlockTable::new(vec![(16, 1), (16, 2)]).unwrap_err(),
            BlockError::Duplicate(16)
        );
    }
}
