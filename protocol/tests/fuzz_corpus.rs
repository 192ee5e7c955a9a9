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

#[test]
fn the_signed_objects_corpus_replays_without_a_panic() {
    replay("signed_objects", samtale_protocol::fuzzing::signed_objects);
}

#[test]
fn the_rest_bodies_corpus_replays_without_a_panic() {
    replay("rest_bodies", samtale_protocol::fuzzing::rest_bodies);
}

#[test]
fn the_journal_json_corpus_replays_without_a_panic() {
    replay("journal_json", samtale_protocol::fuzzing::journal_json);
}

#[test]
fn the_id_token_claims_corpus_replays_without_a_panic() {
    replay(
        "id_token_claims",
        samtale_protocol::fuzzing::id_token_claims,
    );
}
