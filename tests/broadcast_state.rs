//! Specifications of the broadcast state pattern: rules broadcast to every subtask are kept
//! in broadcast state and applied to the main stream, and survive a savepoint into a run at
//! another parallelism.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strato::api::broadcast::{Context, ReadOnlyContext};
use strato::connectors::datagen::DataGeneratorSource;
use strato::state::MapStateDescriptor;
use strato::{BroadcastProcessFunction, DataStream, StreamExecutionEnvironment};

/// Rules are `(word, label)`; events are words; output `(word, label)` for words with a rule.
#[derive(Clone)]
struct Label {
    rules: MapStateDescriptor<String, String>,
}

impl Label {
    fn new() -> Self {
        Label {
            rules: MapStateDescriptor::new("rules"),
        }
    }
}

impl BroadcastProcessFunction<String, (String, String), (String, String)> for Label {
    fn process_element(
        &mut self,
        word: String,
        ctx: &mut ReadOnlyContext<'_, '_, (String, String)>,
    ) -> anyhow::Result<()> {
        let label = ctx.broadcast_state(&self.rules).get(&word)?;
        ctx.collect((word, label.unwrap_or_else(|| "unlabelled".into())));
        Ok(())
    }
    fn process_broadcast_element(
        &mut self,
        (word, label): (String, String),
        ctx: &mut Context<'_, '_, (String, String)>,
    ) -> anyhow::Result<()> {
        ctx.broadcast_state(&self.rules).put(word, label)
    }
}

/// The rules, sent again and again (a rules feed never ends; a finished source would also
/// stop checkpoints).
fn rules(env: &StreamExecutionEnvironment) -> strato::BroadcastStream<(String, String)> {
    env.from_source(
        DataGeneratorSource::new(
            |i| match i % 2 {
                0 => ("apple".to_string(), "fruit".to_string()),
                _ => ("kale".to_string(), "vegetable".to_string()),
            },
            None,
        )
        .with_rows_per_second(50.0),
    )
    .set_parallelism(1)
    .uid("rules")
    .broadcast_stream()
}

/// Labels `words` against the broadcast `rules` (operator uid `label`); returns what the sink saw.
fn labelling_job(
    words: DataStream<String>,
    rules: strato::BroadcastStream<(String, String)>,
) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = seen.clone();
    words
        .connect_broadcast(&rules)
        .process(Label::new())
        .uid("label")
        .add_sink(move |r: (String, String)| sink.lock().unwrap().push(r));
    seen
}

fn expected_label(word: &str) -> &'static str {
    match word {
        "apple" => "fruit",
        "kale" => "vegetable",
        _ => "unlabelled",
    }
}

#[test]
fn broadcast_rules_reach_every_subtask_and_survive_a_savepoint_into_another_parallelism() {
    // First run (p = 2): rules arrive, then the job is stopped with a savepoint.
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(2);
    let words = ["apple", "kale", "stone"];
    let stream = env
        .from_source(
            DataGeneratorSource::new(move |i| words[(i % 3) as usize].to_string(), None)
                .with_rows_per_second(2_000.0),
        )
        .uid("words");
    let seen = labelling_job(stream, rules(&env));
    let client = env.execute_async("labels").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let labelled = |word: &str, label: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(w, l)| w == word && l == label)
            .count()
    };
    while labelled("apple", "fruit") < 20 || labelled("kale", "vegetable") < 20 {
        assert!(std::time::Instant::now() < deadline, "no labelled words");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().unwrap();
    let savepoint = client
        .stop_with_savepoint(false, Some(dir.path().to_str().unwrap()))
        .unwrap();
    client.get_job_execution_result().unwrap();
    for (word, label) in seen.lock().unwrap().iter().rev().take(50) {
        assert_eq!(label, expected_label(word), "{word}");
    }

    // Second run (p = 3) without any rules feed: every subtask labels from the restored
    // broadcast state alone.
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(3);
    env.set_config("execution.savepoint.path", &savepoint);
    // The rules source of the first run is gone: its state may be left unclaimed.
    env.set_config("execution.savepoint.ignore-unclaimed-state", "true");
    let stream = env
        .from_elements(
            (0..300)
                .map(|i| words[i % 3].to_string())
                .collect::<Vec<_>>(),
        )
        .uid("words-again");
    let no_rules = env
        .from_elements(Vec::<(String, String)>::new())
        .set_parallelism(1)
        .uid("no-rules")
        .broadcast_stream();
    let seen = labelling_job(stream, no_rules);
    env.execute("labels again").unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 300);
    for (word, label) in seen.iter() {
        assert_eq!(label, expected_label(word), "{word}");
    }
}
