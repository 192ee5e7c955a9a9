//! Every REST request body the server parses, and the signed logs clients parse, on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    samtale_protocol::fuzzing::rest_bodies(data);
});
