//! Every signed or encrypted binary object (certificates, grants, membership records, holder-key records, receipts, payloads, attachment blobs) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    samtale_protocol::fuzzing::signed_objects(data);
});
