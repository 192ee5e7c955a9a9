//! An eID ID token's claims as the server checks them after the signature, on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    samtale_protocol::fuzzing::id_token_claims(data);
});
