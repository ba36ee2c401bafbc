//! The DataStream API users program against: [`StreamExecutionEnvironment`] to create sources
//! and run jobs, [`DataStream`] / [`KeyedStream`] / [`ConnectedStreams`] to transform, the
//! function traits in [`functions`], user-defined sources in [`source`], and [`ParameterTool`]
//! for program arguments.

pub mod broadcast;
pub mod datastream;
pub mod driver;
pub mod environment;
pub mod functions;
pub mod join;
pub mod launch;
pub mod params;
pub mod process;
pub mod source;
pub mod watermark;
pub mod window;
pub mod windowed;

pub use crate::config::RuntimeExecutionMode;
pub use crate::connectors::file_sink::WriteMode;
pub use crate::runtime::job_master::JobStatus;
pub use broadcast::{
    BroadcastConnectedStream, BroadcastProcessFunction, BroadcastState, BroadcastStream,
    ReadOnlyBroadcastState,
};
pub use datastream::{ConnectedStreams, DataStream, DataStreamSink, KeyedStream};
pub use environment::{JobClient, JobExecutionResult, StreamExecutionEnvironment};
pub use functions::{
    CoFlatMapFunction, CoMapFunction, Collector, FilterFunction, FlatMapFunction, LongCounter,
    MapFunction, Partitioner, ReduceFunction, RuntimeContext, SinkFunction,
};
pub use join::{KeyedCoProcessFunction, TaggedUnion};
pub use params::ParameterTool;
pub use process::{
    Emitter, KeyedContext, KeyedProcessFunction, OutputTag, ProcessContext, ProcessFunction,
    TimeDomain, TimerServiceHandle,
};
pub use source::{Boundedness, InputStatus, Source, SourceOutput, SourceReader};
pub use watermark::{WatermarkGenerator, WatermarkOutput, WatermarkStrategy};
pub use window::*;
pub use windowed::WindowedStream;
