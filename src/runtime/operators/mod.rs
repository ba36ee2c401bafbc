//! Stream operators: the engine side of each API call. Each operator is an [`Output`] of the
//! operator before it in the chain; user functions are called through generics, so a chain of
//! closures compiles to direct calls inside each batch loop.
//!
//! [`Output`]: crate::runtime::chain::Output

pub mod co;
pub mod factory;
pub mod keyed;
pub mod panes;
pub mod process;
pub mod side;
pub mod simple;
pub mod sink;
pub mod source;
pub mod timestamps;
pub mod two_phase;
pub mod window;

/// Records per batch handed between chained operators by sources and keyed operators.
pub const BATCH_SIZE: usize = 1024;

/// The open/event/close plumbing shared by operators that hold a user function `f` and a
/// downstream `next`: downstream opens first and closes last, as in Flink, and control events
/// pass straight through.
macro_rules! chained_lifecycle {
    () => {
        fn open(
            &mut self,
            ctx: &$crate::api::functions::RuntimeContext,
        ) -> Result<(), $crate::runtime::chain::TaskError> {
            self.next.open(ctx)?;
            $crate::runtime::chain::guarded(&self.name, || self.f.open(ctx))
        }
        fn event(
            &mut self,
            event: $crate::runtime::chain::ChainEvent,
        ) -> Result<(), $crate::runtime::chain::TaskError> {
            self.next.event(event)
        }
        fn next_deadline(&self) -> Option<i64> {
            self.next.next_deadline()
        }
        fn close(&mut self) -> Result<(), $crate::runtime::chain::TaskError> {
            let own = $crate::runtime::chain::guarded(&self.name, || self.f.close());
            let downstream = self.next.close();
            own.and(downstream)
        }
    };
}
pub(crate) use chained_lifecycle;
