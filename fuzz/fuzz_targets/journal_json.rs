//! A journal document (journal.json) parsed and verified, on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    samtale_protocol::fuzzing::journal_json(data);
});
