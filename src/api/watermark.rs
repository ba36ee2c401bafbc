//! Event time: `WatermarkStrategy` (timestamp assigner + watermark generator + idleness), as
//! Flink's `WatermarkStrategy.forBoundedOutOfOrderness(..).withTimestampAssigner(..)`.

use std::sync::Arc;
use std::time::Duration;

/// Receives watermarks from a generator.
#[derive(Debug, Default)]
pub struct WatermarkOutput {
    pub(crate) watermark: Option<i64>,
    pub(crate) idle: Option<bool>,
}

impl WatermarkOutput {
    /// Emits a watermark (ignored unless it is higher than the last one).
    pub fn emit_watermark(&mut self, watermark: i64) {
        self.watermark = Some(self.watermark.map_or(watermark, |w| w.max(watermark)));
    }
    /// Marks the stream idle: it stops holding back downstream watermarks until the next event.
    pub fn mark_idle(&mut self) {
        self.idle = Some(true);
    }
}

/// Generates watermarks from events (punctuated) and/or periodically.
pub trait WatermarkGenerator<T>: Send {
    /// Called for every event with its timestamp.
    fn on_event(&mut self, event: &T, timestamp: i64, output: &mut WatermarkOutput);
    /// Called every `pipeline.auto-watermark-interval` (200 ms by default).
    fn on_periodic_emit(&mut self, output: &mut WatermarkOutput);
}

/// `max seen timestamp - delay - 1`, emitted periodically (Flink's `BoundedOutOfOrdernessWatermarks`).
pub struct BoundedOutOfOrderness {
    max_timestamp: i64,
    delay: i64,
}

impl BoundedOutOfOrderness {
    pub fn new(delay: Duration) -> Self {
        let delay = delay.as_millis() as i64;
        BoundedOutOfOrderness {
            max_timestamp: i64::MIN + delay + 1,
            delay,
        }
    }
}

impl<T> WatermarkGenerator<T> for BoundedOutOfOrderness {
    fn on_event(&mut self, _event: &T, timestamp: i64, _output: &mut WatermarkOutput) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }
    fn on_periodic_emit(&mut self, output: &mut WatermarkOutput) {
        output.emit_watermark(self.max_timestamp - self.delay - 1);
    }
}

type GeneratorFactory<T> = dyn Fn() -> Box<dyn WatermarkGenerator<T>> + Send + Sync;
type TimestampAssigner<T> = dyn Fn(&T, Option<i64>) -> i64 + Send + Sync;

/// How a stream gets event timestamps and watermarks.
pub struct WatermarkStrategy<T> {
    pub(crate) generator: Arc<GeneratorFactory<T>>,
    pub(crate) timestamp_assigner: Option<Arc<TimestampAssigner<T>>>,
    pub(crate) idleness: Option<Duration>,
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        WatermarkStrategy {
            generator: self.generator.clone(),
            timestamp_assigner: self.timestamp_assigner.clone(),
            idleness: self.idleness,
        }
    }
}

impl<T: 'static> WatermarkStrategy<T> {
    /// Watermarks trail the highest timestamp seen by `max_out_of_orderness`.
    pub fn for_bounded_out_of_orderness(max_out_of_orderness: Duration) -> Self {
        Self::for_generator(move || Box::new(BoundedOutOfOrderness::new(max_out_of_orderness)))
    }

    /// Timestamps only ever increase: the watermark is the highest timestamp seen (minus 1 ms).
    pub fn for_monotonous_timestamps() -> Self {
        Self::for_bounded_out_of_orderness(Duration::ZERO)
    }

    /// A custom periodic and/or punctuated generator, one per subtask.
    pub fn for_generator(
        factory: impl Fn() -> Box<dyn WatermarkGenerator<T>> + Send + Sync + 'static,
    ) -> Self {
        WatermarkStrategy {
            generator: Arc::new(factory),
            timestamp_assigner: None,
            idleness: None,
        }
    }

    /// No watermarks at all (timestamps may still be assigned).
    pub fn no_watermarks() -> Self {
        struct NoWatermarks;
        impl<T> WatermarkGenerator<T> for NoWatermarks {
            fn on_event(&mut self, _: &T, _: i64, _: &mut WatermarkOutput) {}
            fn on_periodic_emit(&mut self, _: &mut WatermarkOutput) {}
        }
        Self::for_generator(|| Box::new(NoWatermarks))
    }

    /// Extracts each event's timestamp (ms); gets the record's previous timestamp, if any.
    pub fn with_timestamp_assigner(
        mut self,
        assigner: impl Fn(&T, Option<i64>) -> i64 + Send + Sync + 'static,
    ) -> Self {
        self.timestamp_assigner = Some(Arc::new(assigner));
        self
    }

    /// Marks the stream idle when no event arrived for `timeout`, so it does not hold back
    /// the watermark of operators that also read other, active inputs.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idleness = Some(timeout);
        self
    }
}
