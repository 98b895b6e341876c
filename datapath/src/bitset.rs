//! A fixed-size set of small indices, one bit each: the representation of
//! "which Pods" that lets selection run word by word.

/// A fixed-size set of indices `0..len`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    /// The empty set over `0..len`.
    pub fn empty(len: usize) -> Self {
        Bitset { words: vec![0; len.div_ceil(64)], len }
    }

    /// The full set `0..len`.
    pub fn full(len: usize) -> Self {
        let mut set = Bitset { words: vec![u64::MAX; len.div_ceil(64)], len };
        set.trim();
        set
    }

    /// The set `range` within `0..len`.
    pub fn range(len: usize, range: std::ops::Range<usize>) -> Self {
        let mut set = Bitset::empty(len);
        set.insert_range(range);
        set
    }

    /// Adds every index of `range` (those below the length).
    pub fn insert_range(&mut self, range: std::ops::Range<usize>) {
        let end = range.end.min(self.len);
        let mut i = range.start;
        while i < end {
            if i.is_multiple_of(64) && i + 64 <= end {
                self.words[i / 64] = u64::MAX;
                i += 64;
            } else {
                self.words[i / 64] |= 1 << (i % 64);
                i += 1;
            }
        }
    }

    fn trim(&mut self) {
        let tail = self.len % 64;
        if tail != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << tail) - 1;
        }
    }

    /// Adds `index` (ignored when out of range).
    pub fn insert(&mut self, index: usize) {
        if index < self.len {
            self.words[index / 64] |= 1 << (index % 64);
        }
    }

    /// Whether `index` is in the set.
    pub fn contains(&self, index: usize) -> bool {
        index < self.len && self.words[index / 64] & (1 << (index % 64)) != 0
    }

    /// Keeps only what `other` also holds.
    pub fn intersect(&mut self, other: &Bitset) {
        self.words.iter_mut().zip(&other.words).for_each(|(a, b)| *a &= b);
    }

    /// Adds everything `other` holds.
    pub fn union(&mut self, other: &Bitset) {
        self.words.iter_mut().zip(&other.words).for_each(|(a, b)| *a |= b);
    }

    /// Removes everything `other` holds.
    pub fn subtract(&mut self, other: &Bitset) {
        self.words.iter_mut().zip(&other.words).for_each(|(a, b)| *a &= !b);
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The number of members.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    i * 64 + bit
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitsets_count_iterate_and_stay_within_their_length() {
        let mut set = Bitset::full(130);
        assert_eq!(set.count(), 130);
        set.subtract(&Bitset::range(130, 1..129));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 129]);
        set.insert(500);
        assert!(!set.contains(500));
        assert!(Bitset::full(0).is_empty());
    }
}
