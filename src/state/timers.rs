//! Timers per key and namespace (Flink's `InternalTimerService`): deduplicated, deletable,
//! fired in timestamp order (registration order among equal timestamps).

use std::collections::BTreeMap;
use std::hash::Hash;

use super::canonical::{self, Entry, KeyGroupsSnapshot};
use super::{Namespace, StateKey};
use crate::runtime::keygroup::KeyGroupRange;
use crate::util::hash::BuildStableHasher;

/// Names of the timer queues in canonical (raw keyed) snapshots.
const EVENT_TIME_TIMERS: &str = "_timers/event-time";
const PROCESSING_TIME_TIMERS: &str = "_timers/processing-time";

type TimerSet<K, N> = hashbrown::HashSet<(i64, K, N), BuildStableHasher>;

/// Timers of one time domain.
struct TimerQueue<K, N> {
    by_time: BTreeMap<i64, Vec<(K, N)>>,
    live: TimerSet<K, N>,
}

impl<K: Hash + Eq + Clone, N: Hash + Eq + Clone> TimerQueue<K, N> {
    fn new() -> Self {
        TimerQueue {
            by_time: BTreeMap::new(),
            live: TimerSet::default(),
        }
    }

    fn register(&mut self, key: K, namespace: N, time: i64) {
        if self.live.insert((time, key.clone(), namespace.clone())) {
            self.by_time.entry(time).or_default().push((key, namespace));
        }
    }

    fn delete(&mut self, key: K, namespace: N, time: i64) {
        // Left in `by_time`; skipped when popped because it is no longer live.
        self.live.remove(&(time, key, namespace));
    }

    fn next_time(&self) -> Option<i64> {
        self.by_time.keys().next().copied()
    }

    /// Removes and returns the earliest live timer at or before `time`.
    fn pop_due(&mut self, time: i64) -> Option<(i64, K, N)> {
        loop {
            let mut first = self.by_time.first_entry()?;
            let at = *first.key();
            if at > time {
                return None;
            }
            let timers = first.get_mut();
            let (key, namespace) = timers.remove(0);
            if timers.is_empty() {
                first.remove();
            }
            let entry = (at, key, namespace);
            if self.live.remove(&entry) {
                return Some(entry);
            }
        }
    }

    fn len(&self) -> usize {
        self.live.len()
    }
}

/// Timers of one key group in a snapshot: (event-time, processing-time) `(time, key, namespace)`.
pub type TimerEntries<K, N> = (Vec<(i64, K, N)>, Vec<(i64, K, N)>);

/// Event-time and processing-time timers of one keyed operator.
pub struct TimerService<K, N> {
    event_time: TimerQueue<K, N>,
    processing_time: TimerQueue<K, N>,
    current_watermark: i64,
}

impl<K: Hash + Eq + Clone, N: Hash + Eq + Clone> Default for TimerService<K, N> {
    fn default() -> Self {
        TimerService {
            event_time: TimerQueue::new(),
            processing_time: TimerQueue::new(),
            current_watermark: i64::MIN,
        }
    }
}

impl<K: Hash + Eq + Clone, N: Hash + Eq + Clone> TimerService<K, N> {
    pub fn register_event_time_timer(&mut self, key: K, namespace: N, time: i64) {
        self.event_time.register(key, namespace, time);
    }
    pub fn delete_event_time_timer(&mut self, key: K, namespace: N, time: i64) {
        self.event_time.delete(key, namespace, time);
    }
    pub fn register_processing_time_timer(&mut self, key: K, namespace: N, time: i64) {
        self.processing_time.register(key, namespace, time);
    }
    pub fn delete_processing_time_timer(&mut self, key: K, namespace: N, time: i64) {
        self.processing_time.delete(key, namespace, time);
    }

    pub fn current_watermark(&self) -> i64 {
        self.current_watermark
    }

    /// Advances event time; timers at or before `watermark` become due.
    pub fn advance_watermark(&mut self, watermark: i64) {
        self.current_watermark = self.current_watermark.max(watermark);
    }

    /// The next due event-time timer, earliest first.
    pub fn pop_event_timer(&mut self) -> Option<(i64, K, N)> {
        self.event_time.pop_due(self.current_watermark)
    }

    /// The next processing-time timer due at `now`, earliest first.
    pub fn pop_processing_timer(&mut self, now: i64) -> Option<(i64, K, N)> {
        self.processing_time.pop_due(now)
    }

    /// When the earliest processing-time timer is due.
    pub fn next_processing_time(&self) -> Option<i64> {
        self.processing_time.next_time()
    }

    /// The live timers, for a snapshot: (event time, processing time)
    /// lists of `(time, key, namespace)`, grouped by key group so they can be redistributed.
    pub fn snapshot(&self, key_group_of: impl Fn(&K) -> usize) -> Vec<(usize, TimerEntries<K, N>)> {
        let mut groups: std::collections::BTreeMap<usize, TimerEntries<K, N>> = Default::default();
        for (time, key, ns) in &self.event_time.live {
            groups
                .entry(key_group_of(key))
                .or_default()
                .0
                .push((*time, key.clone(), ns.clone()));
        }
        for (time, key, ns) in &self.processing_time.live {
            groups
                .entry(key_group_of(key))
                .or_default()
                .1
                .push((*time, key.clone(), ns.clone()));
        }
        groups.into_iter().collect()
    }

    /// Registers restored timers (the caller keeps only its own key groups).
    pub fn restore(&mut self, timers: TimerEntries<K, N>) {
        for (time, key, ns) in timers.0 {
            self.register_event_time_timer(key, ns, time);
        }
        for (time, key, ns) in timers.1 {
            self.register_processing_time_timer(key, ns, time);
        }
    }

    /// Live timers (event time, processing time).
    pub fn len(&self) -> (usize, usize) {
        (self.event_time.len(), self.processing_time.len())
    }
}

impl<K: StateKey, N: Namespace> TimerService<K, N> {
    /// The live timers in the canonical format (raw keyed state): entries named by time
    /// domain, with the timer's key, namespace and time.
    pub fn snapshot_canonical(
        &self,
        range: KeyGroupRange,
        key_group_of: impl Fn(&K) -> usize,
    ) -> Result<KeyGroupsSnapshot, String> {
        let mut snapshot = KeyGroupsSnapshot::new(range);
        let queues = [
            (EVENT_TIME_TIMERS, &self.event_time),
            (PROCESSING_TIME_TIMERS, &self.processing_time),
        ];
        for (name, queue) in queues {
            let name = canonical::EncodedName::new(name)?;
            for (time, key, ns) in &queue.live {
                let kg = key_group_of(key);
                if !range.contains(kg) {
                    return Err(format!(
                        "a timer's key is in key group {kg}, outside {range:?}"
                    ));
                }
                canonical::write_typed_entry(snapshot.group(kg), &name, key, ns, time)?;
            }
        }
        Ok(snapshot)
    }

    /// Registers one restored timer entry (the caller reads only its own key groups).
    pub fn restore_entry(&mut self, entry: Entry<'_>) -> Result<(), String> {
        let (key, _) = canonical::decode::<K>(entry.key, "a timer key")?;
        let (ns, _) = canonical::decode::<N>(entry.namespace, "a timer namespace")?;
        let (time, _) = canonical::decode::<i64>(entry.value, "a timer time")?;
        match entry.state {
            EVENT_TIME_TIMERS => self.register_event_time_timer(key, ns, time),
            PROCESSING_TIME_TIMERS => self.register_processing_time_timer(key, ns, time),
            other => return Err(format!("unknown timer queue '{other}'")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_time_order_once_and_not_after_deletion() {
        let mut t = TimerService::<&str, ()>::default();
        t.register_event_time_timer("a", (), 20);
        t.register_event_time_timer("b", (), 10);
        t.register_event_time_timer("a", (), 20); // duplicate
        t.register_event_time_timer("c", (), 15);
        t.delete_event_time_timer("c", (), 15);
        t.advance_watermark(19);
        assert_eq!(t.pop_event_timer(), Some((10, "b", ())));
        assert_eq!(t.pop_event_timer(), None);
        t.advance_watermark(25);
        assert_eq!(t.pop_event_timer(), Some((20, "a", ())));
        assert_eq!(t.pop_event_timer(), None);
        assert_eq!(t.len(), (0, 0));
    }

    #[test]
    fn processing_timers_report_their_next_deadline() {
        let mut t = TimerService::<u8, u8>::default();
        t.register_processing_time_timer(1, 0, 500);
        t.register_processing_time_timer(2, 0, 300);
        assert_eq!(t.next_processing_time(), Some(300));
        assert_eq!(t.pop_processing_timer(299), None);
        assert_eq!(t.pop_processing_timer(400), Some((300, 2, 0)));
        assert_eq!(t.next_processing_time(), Some(500));
    }

    #[test]
    fn timers_snapshot_by_key_group_and_restore_elsewhere() {
        let mut t = TimerService::<u32, ()>::default();
        t.register_event_time_timer(1, (), 10);
        t.register_event_time_timer(2, (), 20);
        t.register_processing_time_timer(3, (), 30);
        t.delete_event_time_timer(2, (), 20);
        let snapshot = t.snapshot(|k| *k as usize % 2);
        let mut odd = TimerService::<u32, ()>::default();
        for (group, timers) in snapshot.into_iter().filter(|(g, _)| *g == 1) {
            assert_eq!(group, 1);
            odd.restore(timers);
        }
        assert_eq!(
            odd.len(),
            (1, 1),
            "key 1's event timer and key 3's processing timer; deleted ones are gone"
        );
        odd.advance_watermark(15);
        assert_eq!(odd.pop_event_timer(), Some((10, 1, ())));
        assert_eq!(odd.pop_processing_timer(30), Some((30, 3, ())));
    }
}
