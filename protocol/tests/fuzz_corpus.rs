//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) as ordinary tests, so
//! every input the fuzzer ever kept is checked on every `cargo test`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        run(&data);
        count += 1;
    }
    assert!(count > 0, "the {target} corpus is empty");
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "fuzz corpus {target}: replayed {count} inputs"
    );
}

#[test]
fn the_envelope_decoding_corpus_replays_without_a_panic() {
    replay(
        "envelope_decode",
        samtale_protocol::fuzzing::envelope_decode,
    );
}

#[test]
fn the_frame_parsing_corpus_replays_without_a_panic() {
    replay("frame_parse", samtale_protocol::fuzzing::frame_parse);
}
