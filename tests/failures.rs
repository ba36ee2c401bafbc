//! Specifications of job failure: a failing user function fails the job with the operator,
//! subtask and message, and stops every other task; cancellation ends a job CANCELED.

use std::time::{Duration, Instant};

use strato::connectors::datagen::DataGeneratorSource;
use strato::{Error, JobStatus, MapFunction, StreamExecutionEnvironment};

fn local_env(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env
}

#[test]
fn a_panicking_user_function_fails_the_job_naming_operator_subtask_and_message() {
    let env = local_env(2);
    env.from_sequence(1, 10_000)
        .rebalance()
        .map(|x: i64| {
            if x == 4242 {
                panic!("bad record {x}");
            }
            x
        })
        .name("fragile")
        .add_sink(|_: i64| {});
    let err = env.execute("panics").unwrap_err();
    let Error::JobFailed { cause, .. } = &err else {
        panic!("expected a job failure, got {err}")
    };
    assert_eq!(cause.operator, "fragile");
    assert_eq!(cause.task, "fragile -> Sink: Unnamed");
    assert!(cause.subtask < 2 && cause.parallelism == 2);
    assert!(
        cause.message.contains("bad record 4242"),
        "{}",
        cause.message
    );
    assert!(err.to_string().contains("operator 'fragile'"), "{err}");
}

#[derive(Clone)]
struct FailsOnOpen;
impl MapFunction<i64, i64> for FailsOnOpen {
    fn open(&mut self, _: &strato::RuntimeContext) -> anyhow::Result<()> {
        anyhow::bail!("cannot reach the lookup service")
    }
    fn map(&mut self, v: i64) -> anyhow::Result<i64> {
        Ok(v)
    }
}

#[test]
fn an_error_returned_from_open_fails_the_job() {
    let env = local_env(1);
    env.from_sequence(1, 10)
        .map_rich(FailsOnOpen)
        .name("lookup")
        .print();
    let err = env.execute("open fails").unwrap_err().to_string();
    assert!(
        err.contains("operator 'lookup'") && err.contains("cannot reach the lookup service"),
        "{err}"
    );
}

#[test]
fn a_failure_stops_every_task_including_unbounded_sources() {
    let env = local_env(2);
    // An unbounded source on another branch would run forever if the failure did not stop it.
    env.from_source(DataGeneratorSource::new(|i| i as i64, None))
        .add_sink(|_: i64| {});
    env.from_sequence(1, 100)
        .map(|x: i64| if x == 50 { panic!("boom") } else { x })
        .add_sink(|_: i64| {});
    let started = Instant::now();
    let err = env.execute("stop everything").unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_failure_downstream_of_a_backpressured_producer_still_ends_the_job() {
    let env = local_env(2);
    env.from_source(DataGeneratorSource::new(|i| i as i64, None))
        .key_by(|x: &i64| x % 100)
        .reduce(|_: i64, b: i64| b)
        .map(|x: i64| {
            if x > 200_000 {
                panic!("downstream failure");
            }
            x
        })
        .add_sink(|_: i64| std::thread::sleep(Duration::from_micros(1)));
    let err = env.execute("backpressure").unwrap_err();
    assert!(err.to_string().contains("downstream failure"), "{err}");
}

#[test]
fn cancelling_a_running_job_ends_it_canceled() {
    let env = local_env(2);
    env.from_source(DataGeneratorSource::new(|i| i as i64, None).with_rows_per_second(1000.0))
        .add_sink(|_: i64| {});
    let client = env.execute_async("cancel me").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get_job_status() != JobStatus::Running && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(client.get_job_status(), JobStatus::Running);
    client.cancel();
    let job_id = client.job_id();
    let err = client.get_job_execution_result().unwrap_err();
    assert!(
        matches!(err, Error::JobCancelled { job_id: id } if id == job_id),
        "{err}"
    );
}

#[test]
fn a_missing_input_file_fails_the_job_naming_the_path() {
    let env = local_env(1);
    env.read_text_file("/definitely/not/here.txt").print();
    let err = env.execute("missing input").unwrap_err().to_string();
    assert!(err.contains("/definitely/not/here.txt"), "{err}");
}
