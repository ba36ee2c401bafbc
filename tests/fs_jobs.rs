//! Jobs read and write through the file system trait: word count over `hdfs://` on the mini
//! HDFS gives the same counts as over local files.

mod support;

use std::io::{Read, Write};
use std::process::Command;

use strato::fs::mini_hdfs::{MiniHdfs, MiniHdfsConfig};
use strato::fs::{CreateOptions, FileSystem, FsPath};
use support::*;

fn write_hdfs(fs: &dyn FileSystem, uri: &str, text: &str) {
    let mut w = fs
        .create(&FsPath::parse(uri).unwrap(), &CreateOptions::overwrite())
        .unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.close().unwrap();
}

fn read_counts_from(fs: &dyn FileSystem, dir: &str) -> std::collections::HashMap<String, i64> {
    // Copy the subtask files out, then parse them like local output.
    let local = tempfile::tempdir().unwrap();
    for status in fs.list(&FsPath::parse(dir).unwrap()).unwrap() {
        let mut text = String::new();
        fs.open(&status.path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        std::fs::write(local.path().join(status.path.file_name().unwrap()), text).unwrap();
    }
    read_counts(local.path())
}

#[test]
fn word_count_reads_and_writes_hdfs_with_the_same_counts_as_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let hdfs = MiniHdfs::start(&dir.path().join("hdfs"), MiniHdfsConfig::default()).unwrap();
    let base = hdfs.uri();
    let (fs, _) = <dyn FileSystem>::for_uri(&base).unwrap();

    let local_input = dir.path().join("input.txt");
    let text = write_corpus(&local_input, 3 << 20);
    // Two input files in a directory, one larger than a split.
    let (first, second) = text.split_at(text.len() / 3 * 2);
    let cut = first.rfind('\n').unwrap() + 1;
    write_hdfs(fs.as_ref(), &format!("{base}/in/a.txt"), &text[..cut]);
    write_hdfs(
        fs.as_ref(),
        &format!("{base}/in/b.txt"),
        &(text[cut..first.len()].to_string() + second),
    );

    let output = format!("{base}/out");
    let run = Command::new(example("word_count"))
        .env(
            "STRATO_CONF_DIR",
            conf_dir("parallelism.default: 2\n").path(),
        )
        .args([
            "--input",
            &format!("{base}/in"),
            "--output",
            &output,
            "--execution-mode",
            "BATCH",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        read_counts_from(fs.as_ref(), &output),
        reference_word_count(&text)
    );
}

#[test]
fn a_missing_hdfs_input_fails_the_job_naming_the_uri() {
    let dir = tempfile::tempdir().unwrap();
    let hdfs = MiniHdfs::start(&dir.path().join("hdfs"), MiniHdfsConfig::default()).unwrap();
    let missing = format!("{}/no/such/input", hdfs.uri());
    let run = Command::new(example("word_count"))
        .env_remove("STRATO_CONF_DIR")
        .args(["--input", &missing])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(stderr(&run).contains(&missing), "{}", stderr(&run));
}

#[test]
fn scheme_less_paths_resolve_against_the_configured_default_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let hdfs = MiniHdfs::start(&dir.path().join("hdfs"), MiniHdfsConfig::default()).unwrap();
    let (fs, _) = <dyn FileSystem>::for_uri(&hdfs.uri()).unwrap();
    // A directory name no local disk has, so a wrong resolution cannot touch real files.
    let base = format!(
        "/strato-test-{}",
        dir.path().file_name().unwrap().to_string_lossy()
    );
    write_hdfs(
        fs.as_ref(),
        &format!("{}{base}/in.txt", hdfs.uri()),
        "to be or not to be\n",
    );
    let run = strato()
        .args([
            "run",
            "-p",
            "1",
            &format!("-Dfs.default-scheme={}", hdfs.uri()),
        ])
        .arg(example("word_count"))
        .args([
            "--input",
            &format!("{base}/in.txt"),
            "--output",
            &format!("{base}/out.txt"),
        ])
        .output()
        .unwrap();
    let local = std::path::Path::new(&base);
    let wrote_locally = local.exists();
    let _ = std::fs::remove_dir_all(local);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!wrote_locally, "wrote to the local disk instead of HDFS");
    let mut text = String::new();
    fs.open(&FsPath::parse(&format!("{}{base}/out.txt", hdfs.uri())).unwrap())
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("(to,2)") && text.contains("(be,2)"), "{text}");
}
