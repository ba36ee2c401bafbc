//! A batch of records with their event-time timestamps: the unit that moves along a chain.
//!
//! Timestamps are kept in a parallel vector that stays empty while no record carries one, so
//! jobs without event time pay nothing for them.

/// Timestamp of a record that has none (Flink's `StreamRecord` without timestamp).
pub const NO_TIMESTAMP: i64 = i64::MIN;

/// Records and (optionally) their timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<T> {
    pub records: Vec<T>,
    /// Empty, or one timestamp per record (`NO_TIMESTAMP` for records without one).
    pub timestamps: Vec<i64>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            records: Vec::new(),
            timestamps: Vec::new(),
        }
    }
}

impl<T> Batch<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch of records without timestamps.
    pub fn from_records(records: Vec<T>) -> Self {
        Batch {
            records,
            timestamps: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn clear(&mut self) {
        self.records.clear();
        self.timestamps.clear();
    }

    pub fn has_timestamps(&self) -> bool {
        !self.timestamps.is_empty()
    }

    /// Appends a record with an optional timestamp.
    #[inline]
    pub fn push(&mut self, record: T, timestamp: Option<i64>) {
        match timestamp {
            Some(ts) => {
                if self.timestamps.len() < self.records.len() {
                    self.timestamps.resize(self.records.len(), NO_TIMESTAMP);
                }
                self.timestamps.push(ts);
            }
            None if !self.timestamps.is_empty() => self.timestamps.push(NO_TIMESTAMP),
            None => {}
        }
        self.records.push(record);
    }

    /// The timestamp of record `i`, if it has one.
    #[inline]
    pub fn timestamp(&self, i: usize) -> Option<i64> {
        self.timestamps
            .get(i)
            .copied()
            .filter(|&t| t != NO_TIMESTAMP)
    }

    /// Takes every record with its timestamp, leaving the batch empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (T, Option<i64>)> + '_ {
        let timestamps = std::mem::take(&mut self.timestamps);
        let mut ts = timestamps.into_iter();
        self.records
            .drain(..)
            .map(move |r| (r, ts.next().filter(|&t| t != NO_TIMESTAMP)))
    }

    /// Gives the records appended since `start` (mapped one-to-one from an input batch) that
    /// input's timestamps, leaving `timestamps` empty.
    pub fn adopt_timestamps(&mut self, start: usize, timestamps: &mut Vec<i64>) {
        if !timestamps.is_empty() {
            self.timestamps.resize(start, NO_TIMESTAMP);
            self.timestamps.append(timestamps);
        } else if self.has_timestamps() {
            self.timestamps.resize(self.records.len(), NO_TIMESTAMP);
        }
    }
}

impl<T: Clone> Batch<T> {
    /// Appends copies of every record of `other`.
    pub fn extend_from(&mut self, other: &Batch<T>) {
        if other.has_timestamps() || self.has_timestamps() {
            self.timestamps.resize(self.records.len(), NO_TIMESTAMP);
            if other.has_timestamps() {
                self.timestamps.extend_from_slice(&other.timestamps);
            } else {
                self.timestamps
                    .resize(self.records.len() + other.len(), NO_TIMESTAMP);
            }
        }
        self.records.extend_from_slice(&other.records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_stay_aligned_when_stamped_and_plain_records_mix() {
        let mut b = Batch::new();
        b.push("a", None);
        b.push("b", Some(5));
        b.push("c", None);
        assert_eq!(b.timestamp(0), None);
        assert_eq!(b.timestamp(1), Some(5));
        assert_eq!(
            b.drain().collect::<Vec<_>>(),
            vec![("a", None), ("b", Some(5)), ("c", None)]
        );
        assert!(b.is_empty() && !b.has_timestamps());
    }

    #[test]
    fn plain_batches_carry_no_timestamp_vector() {
        let mut b = Batch::new();
        b.push(1, None);
        b.push(2, None);
        assert!(!b.has_timestamps());
        let mut copy = Batch::new();
        copy.extend_from(&b);
        assert_eq!(copy, b);
    }

    #[test]
    fn one_to_one_mapping_keeps_the_input_timestamps() {
        let mut input = Batch::new();
        input.push(1, Some(10));
        input.push(2, Some(20));
        let mut output = Batch::new();
        output.push(0, None);
        output
            .records
            .extend(input.records.drain(..).map(|x| x * 2));
        output.adopt_timestamps(1, &mut input.timestamps);
        assert_eq!(
            output.drain().collect::<Vec<_>>(),
            vec![(0, None), (2, Some(10)), (4, Some(20))]
        );
        assert!(!input.has_timestamps());
    }
}
