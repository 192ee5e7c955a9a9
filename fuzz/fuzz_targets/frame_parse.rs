//! WebSocket frame parsing (and minimisation scanning) on arbitrary text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    samtale_protocol::fuzzing::frame_parse(data);
});
