//! Acceptance: word count gives exactly the counts of a plain hash count, at parallelism 1, 2
//! and 4, in STREAMING and BATCH mode, run directly and through `strato run`.

mod support;

use std::process::Command;
use support::*;

#[test]
fn word_count_matches_a_plain_hash_count_at_every_parallelism_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    let text = write_corpus(&input, 3 << 20);
    let expected = reference_word_count(&text);
    for parallelism in [1, 2, 4] {
        let conf = conf_dir(&format!("parallelism.default: {parallelism}\n"));
        for mode in ["STREAMING", "BATCH"] {
            let output = dir.path().join(format!("out-{parallelism}-{mode}"));
            let run = Command::new(example("word_count"))
                .env("STRATO_CONF_DIR", conf.path())
                .args([
                    "--input",
                    input.to_str().unwrap(),
                    "--output",
                    output.to_str().unwrap(),
                    "--execution-mode",
                    mode,
                ])
                .output()
                .unwrap();
            assert!(
                run.status.success(),
                "p={parallelism} {mode}: {}",
                stderr(&run)
            );
            assert_eq!(
                output.is_dir(),
                parallelism > 1,
                "one file at parallelism 1, a directory above"
            );
            assert_eq!(read_counts(&output), expected, "p={parallelism} {mode}");
        }
    }
}

#[test]
fn batch_mode_writes_one_final_count_per_word() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    let text = write_corpus(&input, 200_000);
    let output = dir.path().join("out");
    let run = Command::new(example("word_count"))
        .env(
            "STRATO_CONF_DIR",
            conf_dir("parallelism.default: 2\n").path(),
        )
        .args([
            "-input",
            input.to_str().unwrap(),
            "-output",
            output.to_str().unwrap(),
            "--execution-mode",
            "BATCH",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let lines: usize = std::fs::read_dir(&output)
        .unwrap()
        .map(|f| {
            std::fs::read_to_string(f.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, reference_word_count(&text).len());
}

#[test]
fn strato_run_with_parallelism_two_gives_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    let text = write_corpus(&input, 1 << 20);
    let output = dir.path().join("out");
    let run = strato()
        .args(["run", "-p", "2"])
        .arg(example("word_count"))
        .args([
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    assert!(out.contains("Job has been submitted with JobID "), "{out}");
    assert!(out.contains("Program execution finished"), "{out}");
    assert!(
        out.contains("has finished.") && out.contains("Job Runtime: "),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(&output).unwrap().count(),
        2,
        "one file per subtask"
    );
    assert_eq!(read_counts(&output), reference_word_count(&text));
}

#[test]
fn a_directory_input_counts_the_words_of_all_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let a = write_corpus(&inputs.join("a.txt"), 100_000);
    let b = write_corpus(&inputs.join("b.txt"), 50_000);
    let output = dir.path().join("out.txt");
    let run = Command::new(example("word_count"))
        .env(
            "STRATO_CONF_DIR",
            conf_dir("parallelism.default: 1\n").path(),
        )
        .args([
            "--input",
            inputs.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(read_counts(&output), reference_word_count(&(a + "\n" + &b)));
}

#[test]
fn printed_results_carry_the_subtask_prefix_when_parallel() {
    let run = strato()
        .args(["run", "-p", "2"])
        .arg(example("word_count"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    let results: Vec<&str> = out.lines().filter(|l| l.contains("> (")).collect();
    assert!(!results.is_empty(), "{out}");
    for line in results {
        let (prefix, record) = line.split_once("> ").unwrap();
        assert!(prefix == "1" || prefix == "2", "{line}");
        assert!(record.starts_with('(') && record.ends_with(')'), "{line}");
    }
    let single = strato()
        .args(["run", "-p", "1"])
        .arg(example("word_count"))
        .output()
        .unwrap();
    assert!(
        stdout(&single).lines().any(|l| l == "(question,1)"),
        "{}",
        stdout(&single)
    );
}
