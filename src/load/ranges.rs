//! Sets of row ranges of one input file: which rows are acknowledged, which a load still
//! has to send. Lanes acknowledge out of order, so a set, never one high-water mark.
//!
//! ```
//! use arrow_zerobus_sdk_wrapper::load::RowRanges;
//! let mut acked = RowRanges::default();
//! acked.insert(0, 100);
//! acked.insert(200, 300);
//! acked.insert(100, 200); // joins the two
//! assert_eq!(acked.ranges(), &[(0, 300)]);
//! assert_eq!(acked.missing(400).ranges(), &[(300, 400)]);
//! ```

use serde::{Deserialize, Serialize};

/// Disjoint, sorted, non-touching half-open ranges `start..end` of row numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<(u64, u64)>", into = "Vec<(u64, u64)>")]
pub struct RowRanges(Vec<(u64, u64)>);

impl RowRanges {
    /// `ranges` as a set (joined where they overlap or touch).
    pub fn from_sorted(ranges: Vec<(u64, u64)>) -> RowRanges {
        let mut set = RowRanges::default();
        for (s, e) in ranges {
            set.insert(s, e);
        }
        set
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Rows in the set.
    pub fn rows(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Add `start..end` (nothing when empty), joining ranges it overlaps or touches.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // First range that ends at or after `start`: everything before it stays.
        let at = self.0.partition_point(|&(_, e)| e < start);
        let mut merged = (start, end);
        let mut last = at;
        while last < self.0.len() && self.0[last].0 <= merged.1 {
            merged.0 = merged.0.min(self.0[last].0);
            merged.1 = merged.1.max(self.0[last].1);
            last += 1;
        }
        self.0.splice(at..last, [merged]);
    }

    /// Add every range of `other`.
    pub fn extend(&mut self, other: &RowRanges) {
        for &(s, e) in &other.0 {
            self.insert(s, e);
        }
    }

    /// Whether every row of `start..end` is in the set.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        start >= end || self.0.iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// The rows of `0..total` not in the set.
    pub fn missing(&self, total: u64) -> RowRanges {
        let mut out = Vec::new();
        let mut at = 0;
        for &(s, e) in &self.0 {
            if s >= total {
                break;
            }
            if s > at {
                out.push((at, s));
            }
            at = at.max(e);
        }
        if at < total {
            out.push((at, total));
        }
        RowRanges(out)
    }

    /// The rows of the set below `end`.
    pub fn below(&self, end: u64) -> u64 {
        self.0
            .iter()
            .map(|&(s, e)| e.min(end).saturating_sub(s))
            .sum()
    }
}

impl TryFrom<Vec<(u64, u64)>> for RowRanges {
    type Error = String;

    /// Ranges as a journal holds them: sorted, each non-empty, none touching the next.
    fn try_from(v: Vec<(u64, u64)>) -> Result<Self, String> {
        for (i, &(s, e)) in v.iter().enumerate() {
            if s >= e {
                return Err(format!("row range {s}..{e} is empty or reversed"));
            }
            if i > 0 && v[i - 1].1 >= s {
                return Err(format!(
                    "row ranges {}..{} and {s}..{e} overlap or are out of order",
                    v[i - 1].0,
                    v[i - 1].1
                ));
            }
        }
        Ok(RowRanges(v))
    }
}

impl From<RowRanges> for Vec<(u64, u64)> {
    fn from(r: RowRanges) -> Self {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_acknowledgements_join_into_ranges() {
        let mut r = RowRanges::default();
        for (s, e) in [(40, 50), (0, 10), (20, 30), (10, 20), (60, 70), (45, 62)] {
            r.insert(s, e);
        }
        assert_eq!(r.ranges(), &[(0, 30), (40, 70)]);
        assert_eq!(r.rows(), 60);
        assert!(r.covers(41, 69) && !r.covers(25, 45));
        assert_eq!(r.missing(100).ranges(), &[(30, 40), (70, 100)]);
        assert_eq!(r.missing(35).ranges(), &[(30, 35)]);
        assert_eq!(r.below(45), 35);
        r.insert(5, 5);
        assert_eq!(r.ranges(), &[(0, 30), (40, 70)]);
    }

    #[test]
    fn a_journal_with_overlapping_ranges_is_refused() {
        let bad: Result<RowRanges, _> = serde_json::from_str("[[0,10],[5,20]]");
        assert!(bad.unwrap_err().to_string().contains("overlap"));
        let empty: Result<RowRanges, _> = serde_json::from_str("[[3,3]]");
        assert!(empty.is_err());
        let good: RowRanges = serde_json::from_str("[[0,10],[11,20]]").unwrap();
        assert_eq!(good.rows(), 19);
    }
}
