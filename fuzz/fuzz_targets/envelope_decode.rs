//! Envelope (and other binary object) decoding on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    samtale_protocol::fuzzing::envelope_decode(data);
});
