//! `assign_timestamps_and_watermarks`: stamps each record with its event time and generates
//! watermarks from a [`WatermarkStrategy`] (per event and every auto-watermark interval), with
//! idleness detection. Watermarks from upstream are replaced by this operator's own, except the
//! final one that ends a bounded input.

use std::time::Duration;

use crate::api::functions::RuntimeContext;
use crate::api::watermark::{WatermarkGenerator, WatermarkOutput, WatermarkStrategy};
use crate::runtime::batch::Batch;
use crate::runtime::chain::{
    guarded, processing_time_now, BoxOutput, ChainEvent, Output, TaskError,
};
use crate::runtime::operators::source::MAX_WATERMARK;

pub struct TimestampsAndWatermarksOperator<T> {
    pub name: String,
    pub strategy: WatermarkStrategy<T>,
    pub next: BoxOutput<T>,
    pub generator: Option<Box<dyn WatermarkGenerator<T>>>,
    pub out: Batch<T>,
    pub interval: Duration,
    pub next_emit: Option<i64>,
    pub emitted: i64,
    pub idle: bool,
    pub last_event: i64,
}

impl<T> TimestampsAndWatermarksOperator<T> {
    pub fn new(name: String, strategy: WatermarkStrategy<T>, next: BoxOutput<T>) -> Self {
        TimestampsAndWatermarksOperator {
            name,
            strategy,
            next,
            generator: None,
            out: Batch::new(),
            interval: Duration::from_millis(200),
            next_emit: None,
            emitted: i64::MIN,
            idle: false,
            last_event: 0,
        }
    }

    /// Sends what the generator emitted: status changes and watermarks that advance.
    fn forward(&mut self, output: WatermarkOutput) -> Result<(), TaskError> {
        if let Some(wm) = output.watermark.filter(|&wm| wm > self.emitted) {
            if self.idle {
                self.idle = false;
                self.next
                    .event(ChainEvent::WatermarkStatus { idle: false })?;
            }
            self.emitted = wm;
            self.next.event(ChainEvent::Watermark(wm))?;
        }
        if output.idle == Some(true) && !self.idle {
            self.idle = true;
            self.next
                .event(ChainEvent::WatermarkStatus { idle: true })?;
        }
        Ok(())
    }
}

impl<T: Send + 'static> Output<T> for TimestampsAndWatermarksOperator<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.next.open(ctx)?;
        self.interval = ctx.auto_watermark_interval();
        self.generator = Some((self.strategy.generator)());
        self.last_event = processing_time_now();
        if !self.interval.is_zero() {
            self.next_emit = Some(processing_time_now() + self.interval.as_millis() as i64);
        }
        Ok(())
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        if self.generator.is_none() {
            return Err(TaskError::operator(
                &self.name,
                "records arrived before the operator was opened",
            ));
        }
        if !batch.is_empty() {
            self.last_event = processing_time_now();
            if self.idle {
                self.idle = false;
                self.next
                    .event(ChainEvent::WatermarkStatus { idle: false })?;
            }
        }
        let assigner = self.strategy.timestamp_assigner.clone();
        let mut records = batch.drain().peekable();
        while records.peek().is_some() {
            // Stamp records until the generator emits a watermark that advances: that watermark
            // goes out right after the record that caused it (punctuated generators).
            let (out, generator, emitted) = (&mut self.out, &mut self.generator, self.emitted);
            let mut output = WatermarkOutput::default();
            guarded(&self.name, || {
                let Some(generator) = generator.as_mut() else {
                    return Ok(());
                };
                for (record, previous) in records.by_ref() {
                    let timestamp = match &assigner {
                        Some(assign) => assign(&record, previous),
                        None => previous.ok_or_else(|| anyhow::anyhow!("a record has no timestamp and the watermark strategy has no timestamp assigner"))?,
                    };
                    generator.on_event(&record, timestamp, &mut output);
                    out.push(record, Some(timestamp));
                    if output.watermark.is_some_and(|wm| wm > emitted) {
                        break;
                    }
                }
                Ok(())
            })?;
            self.next.push(&mut self.out)?;
            self.forward(output)?;
        }
        Ok(())
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        match event {
            // Upstream watermarks are replaced by ours; only the end of input passes.
            ChainEvent::Watermark(wm) if wm == MAX_WATERMARK => {
                self.emitted = MAX_WATERMARK;
                self.next.event(event)
            }
            ChainEvent::Watermark(_) | ChainEvent::WatermarkStatus { .. } => Ok(()),
            ChainEvent::ProcessingTime(now) => {
                if self.next_emit.is_some_and(|at| now >= at) {
                    self.next_emit = Some(now + self.interval.as_millis() as i64);
                    let mut output = WatermarkOutput::default();
                    if let Some(generator) = self.generator.as_mut() {
                        generator.on_periodic_emit(&mut output);
                    }
                    if let Some(timeout) = self.strategy.idleness {
                        if now - self.last_event >= timeout.as_millis() as i64 {
                            output.mark_idle();
                            output.watermark = None;
                        }
                    }
                    self.forward(output)?;
                }
                self.next.event(event)
            }
            other => self.next.event(other),
        }
    }

    fn next_deadline(&self) -> Option<i64> {
        [self.next_emit, self.next.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        self.next.close()
    }
}
