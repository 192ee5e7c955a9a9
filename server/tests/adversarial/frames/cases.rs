//! The cases themselves, group by group.

use std::time::Duration;

use samtale_protocol::wire::MAX_FRAME_BYTES;

use super::super::raw::{BINARY, CLOSE, CONTINUATION, Frame, Length, PING, PONG};
use super::{BOUND, Case, Expect, case};

/// A frame the relay parses and refuses as an unknown type: answered with
/// `unknown_frame_type`, so an answer proves the frame was read whole.
const SHOUT: &str = r#"{"type":"shout"}"#;
const SYNC_UNKNOWN: &str =
    r#"{"type":"sync","thread_id":"0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90","after_seq":0}"#;

/// A `shout` frame padded to exactly `len` bytes.
fn shout_of(len: usize) -> String {
    let head = r#"{"type":"shout","pad":""#;
    let tail = r#""}"#;
    format!("{head}{}{tail}", "a".repeat(len - head.len() - tail.len()))
}

fn close_code(code: u16) -> Expect {
    Expect::Close(Some(code))
}

/// The cases: Autobahn's groups, and this server's own limits.
pub fn cases(token: &str, forged_token: &str) -> Vec<Case> {
    let protocol_error = close_code(1002);
    let invalid_utf8 = close_code(1007);
    let too_big = close_code(1009);
    let mut cases = vec![
        // Framing (Autobahn 1): RFC 6455 §5.1, a server MUST close on an
        // unmasked frame.
        case(
            "an unmasked text frame is closed with 1002",
            true,
            &[Frame::text(SHOUT).unmasked()],
            protocol_error.clone(),
        ),
        case(
            "an unmasked ping is closed with 1002",
            true,
            &[Frame::new(PING, "x").unmasked()],
            protocol_error.clone(),
        ),
        case(
            "an unmasked first frame before authentication is closed with 1002",
            false,
            &[Frame::text(SHOUT).unmasked()],
            protocol_error.clone(),
        ),
        // Reserved bits (Autobahn 3): §5.2, no extension is negotiated.
        case(
            "a text frame with RSV1 set is closed with 1002",
            true,
            &[Frame::text(SHOUT).rsv(0b100)],
            protocol_error.clone(),
        ),
        case(
            "a text frame with RSV2 set is closed with 1002",
            true,
            &[Frame::text(SHOUT).rsv(0b010)],
            protocol_error.clone(),
        ),
        case(
            "a binary frame with RSV3 set is closed with 1002",
            true,
            &[Frame::new(BINARY, "x").rsv(0b001)],
            protocol_error.clone(),
        ),
        case(
            "a ping with all reserved bits set is closed with 1002",
            true,
            &[Frame::new(PING, "x").rsv(0b111)],
            protocol_error.clone(),
        ),
        case(
            "a frame with a reserved bit after a valid one is closed with 1002",
            true,
            &[Frame::new(PING, "ok"), Frame::text(SHOUT).rsv(0b100)],
            protocol_error.clone(),
        ),
        // Fragmentation (Autobahn 5): §5.4; control frames are never
        // fragmented (§5.5).
        case(
            "a continuation frame with nothing to continue is closed with 1002",
            true,
            &[Frame::new(CONTINUATION, SHOUT)],
            protocol_error.clone(),
        ),
        case(
            "a new text frame inside a fragmented message is closed with 1002",
            true,
            &[Frame::text(r#"{"type":"#).not_final(), Frame::text(SHOUT)],
            protocol_error.clone(),
        ),
        case(
            "a binary frame inside a fragmented text message is closed with 1002",
            true,
            &[
                Frame::text(r#"{"type":"#).not_final(),
                Frame::new(BINARY, "x"),
            ],
            protocol_error.clone(),
        ),
        case(
            "a fragmented ping is closed with 1002",
            true,
            &[
                Frame::new(PING, "a").not_final(),
                Frame::new(CONTINUATION, "b"),
            ],
            protocol_error.clone(),
        ),
        case(
            "a fragmented pong is closed with 1002",
            true,
            &[Frame::new(PONG, "a").not_final()],
            protocol_error.clone(),
        ),
        case(
            "a fragmented close is closed with 1002",
            true,
            &[
                Frame::close(1000, b"").not_final(),
                Frame::new(CONTINUATION, ""),
            ],
            protocol_error.clone(),
        ),
        case(
            "a fragmented message with a ping between its fragments is reassembled and the ping answered",
            true,
            &[
                Frame::text(r#"{"type":"#).not_final(),
                Frame::new(PING, "between"),
                Frame::new(CONTINUATION, r#""shout"}"#),
            ],
            Expect::Error("unknown_frame_type", Some(b"between")),
        ),
        case(
            "a message fragmented past the message limit is closed with 1009",
            true,
            &[
                Frame::text(vec![b' '; 60_000]).not_final(),
                Frame::new(CONTINUATION, vec![b' '; 40_000]).not_final(),
                Frame::new(CONTINUATION, SHOUT),
            ],
            too_big.clone(),
        ),
        case(
            "a fragmented message that never ends is closed with 1009 once past the limit",
            true,
            &std::iter::once(Frame::text(vec![b' '; 1000]).not_final())
                .chain((0..200).map(|_| Frame::new(CONTINUATION, vec![b' '; 1000]).not_final()))
                .collect::<Vec<_>>(),
            too_big.clone(),
        ),
        // Pings, pongs and control frames (Autobahn 2, 7.1–7.3): §5.5.
        case(
            "a ping with 125 bytes is answered with a pong carrying them",
            true,
            &[Frame::new(PING, vec![b'p'; 125])],
            Expect::Pong(vec![b'p'; 125]),
        ),
        case(
            "a ping with 126 bytes is closed with 1002",
            true,
            &[Frame::new(PING, vec![b'p'; 126])],
            protocol_error.clone(),
        ),
        case(
            "a close frame with 126 bytes is closed with 1002",
            true,
            &[Frame::new(
                CLOSE,
                [&[0x03, 0xe8][..], &[b'r'; 124]].concat(),
            )],
            protocol_error.clone(),
        ),
        case(
            "an unsolicited pong is ignored",
            true,
            &[Frame::new(PONG, "unasked"), Frame::new(PING, "after")],
            Expect::Pong(b"after".to_vec()),
        ),
        case(
            "a close frame with a one-byte payload is closed with 1002",
            true,
            &[Frame::new(CLOSE, vec![0x03])],
            protocol_error.clone(),
        ),
        case(
            "an empty close frame is answered with an empty close frame",
            true,
            &[Frame::new(CLOSE, Vec::new())],
            Expect::Close(None),
        ),
        case(
            "a close frame with 1000 and a reason is echoed with 1000",
            true,
            &[Frame::close(1000, "bye".as_bytes())],
            close_code(1000),
        ),
        case(
            "a close frame with invalid UTF-8 in its reason is closed with 1007",
            true,
            &[Frame::close(
                1000,
                b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
            )],
            invalid_utf8.clone(),
        ),
        // UTF-8 (Autobahn 6): §8.1, invalid text fails the connection.
        case(
            "a text frame with an overlong encoding is closed with 1007",
            true,
            &[Frame::text(&b"{\"type\":\"\xc0\xaf\"}"[..])],
            invalid_utf8.clone(),
        ),
        case(
            "a text frame with a UTF-16 surrogate is closed with 1007",
            true,
            &[Frame::text(&b"{\"type\":\"\xed\xa0\x80\"}"[..])],
            invalid_utf8.clone(),
        ),
        case(
            "a text frame with a code point past U+10FFFF is closed with 1007",
            true,
            &[Frame::text(&b"{\"type\":\"\xf4\x90\x80\x80\"}"[..])],
            invalid_utf8.clone(),
        ),
        case(
            "invalid UTF-8 in the second fragment of a text message is closed with 1007",
            true,
            &[
                Frame::text(r#"{"type":""#).not_final(),
                Frame::new(CONTINUATION, &b"\xff\"}"[..]),
            ],
            invalid_utf8.clone(),
        ),
        case(
            "invalid UTF-8 in a fragment of a message never finished is closed with 1007",
            true,
            &[
                Frame::text(r#"{"type":""#).not_final(),
                Frame::new(CONTINUATION, &b"\xce\xba\xf8"[..]).not_final(),
            ],
            invalid_utf8.clone(),
        ),
        case(
            "a text message that ends inside a code point is closed with 1007",
            true,
            &[
                Frame::text(r#"{"type":""#).not_final(),
                Frame::new(CONTINUATION, &b"\xce"[..]),
            ],
            invalid_utf8.clone(),
        ),
        case(
            "a code point split across fragments is reassembled",
            true,
            &[
                Frame::text(&b"{\"type\":\"\xce"[..]).not_final(),
                Frame::new(CONTINUATION, &b"\xba\"}"[..]),
            ],
            Expect::Error("unknown_frame_type", None),
        ),
        case(
            "a binary frame of invalid UTF-8 is refused as not text",
            true,
            &[Frame::new(BINARY, &b"\xff\xfe"[..])],
            Expect::Error("bad_request", None),
        ),
        // Lengths and limits (Autobahn 1.1, 1.2, 9): §5.2, every encoding,
        // and declared lengths up to 2^64 − 1.
        case(
            "a small frame with a 16-bit length is read as the frame it is",
            true,
            &[Frame::text(SHOUT).length(Length::Sixteen)],
            Expect::Error("unknown_frame_type", None),
        ),
        case(
            "a small frame with a 64-bit length is read as the frame it is",
            true,
            &[Frame::text(SHOUT).length(Length::SixtyFour)],
            Expect::Error("unknown_frame_type", None),
        ),
        case(
            "a frame of 65,535 bytes (the largest 16-bit length) is read whole",
            true,
            &[Frame::text(shout_of(65_535))],
            Expect::Error("unknown_frame_type", None),
        ),
        case(
            "a frame of exactly the frame limit is read whole",
            true,
            &[Frame::text(shout_of(MAX_FRAME_BYTES))],
            Expect::Error("unknown_frame_type", None),
        ),
        case(
            "a frame one byte over the frame limit is closed with 1009",
            true,
            &[Frame::text(shout_of(MAX_FRAME_BYTES + 1))],
            too_big.clone(),
        ),
    ];
    for declared in [1 << 32, (1 << 63) - 1] {
        cases.push(case(
            format!("a frame declaring {declared} bytes is closed with 1009 before its payload"),
            true,
            &[Frame::text(SHOUT).length(Length::Declared(declared))],
            too_big.clone(),
        ));
    }
    for declared in [1 << 63, u64::MAX] {
        // RFC 6455 §5.2: the most significant bit MUST be 0. Past the limit
        // either way: refused as too big.
        cases.push(case(
            format!(
                "a frame declaring {declared} bytes (the top bit set) is closed with 1009 before its payload"
            ),
            true,
            &[Frame::text(SHOUT).length(Length::Declared(declared))],
            too_big.clone(),
        ));
    }
    // Reserved opcodes (Autobahn 4).
    for opcode in (3..=7).chain(0xb..=0xf) {
        cases.push(case(
            format!("a frame with the reserved opcode {opcode:#x} is closed with 1002"),
            true,
            &[Frame::new(opcode, "x")],
            protocol_error.clone(),
        ));
    }
    // Close codes (Autobahn 7.7, 7.9): valid ones are echoed, the others are
    // a protocol error.
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        cases.push(case(
            format!("a close frame with the valid code {code} is echoed"),
            true,
            &[Frame::close(code, b"")],
            close_code(code),
        ));
    }
    for code in [
        0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        cases.push(case(
            format!("a close frame with the invalid code {code} is closed with 1002"),
            true,
            &[Frame::close(code, b"")],
            protocol_error.clone(),
        ));
    }
    cases.extend([
        // Floods and this server's limits (docs/API.md, the relay).
        case(
            "a flood of 2,000 pings is closed with 4012",
            true,
            &vec![Frame::new(PING, "flood"); 2000],
            close_code(4012),
        ),
        case(
            "a flood of 2,000 malformed frames is closed with 4000",
            true,
            &vec![Frame::text("{"); 2000],
            close_code(4000),
        ),
        case(
            "a flood of 2,000 well-formed but refused frames is closed with 4012",
            true,
            &vec![Frame::text(SYNC_UNKNOWN); 2000],
            close_code(4012),
        ),
        case(
            "an auth frame on a connection already signed in is refused and the connection goes on",
            true,
            &[Frame::text(format!(
                r#"{{"type":"auth","token":"{forged_token}"}}"#
            ))],
            Expect::Error("bad_request", None),
        ),
        // Before authentication (docs/API.md: auth first, within 10 seconds).
        case(
            "a ping before authentication is closed with 4002",
            false,
            &[Frame::new(PING, "hello")],
            close_code(4002),
        ),
        case(
            "a binary frame before authentication is closed with 4002",
            false,
            &[Frame::new(BINARY, "hello")],
            close_code(4002),
        ),
        case(
            "a sync frame before authentication is closed with 4002",
            false,
            &[Frame::text(SYNC_UNKNOWN)],
            close_code(4002),
        ),
        case(
            "a malformed first frame is closed with 4000",
            false,
            &[Frame::text("{")],
            close_code(4000),
        ),
        case(
            "an unknown first frame type is closed with 4001",
            false,
            &[Frame::text(SHOUT)],
            close_code(4001),
        ),
        case(
            "an auth frame with a forged token is closed with 4003",
            false,
            &[Frame::text(format!(
                r#"{{"type":"auth","token":"{forged_token}"}}"#
            ))],
            close_code(4003),
        ),
        case(
            "an auth frame in three fragments signs in",
            false,
            &[
                Frame::text(r#"{"type":"auth","#).not_final(),
                Frame::new(CONTINUATION, r#""token":""#).not_final(),
                Frame::new(CONTINUATION, format!(r#"{token}"}}"#)),
            ],
            Expect::Ready,
        ),
        case(
            "a close frame before authentication is echoed",
            false,
            &[Frame::close(1000, b"")],
            close_code(1000),
        ),
        case(
            "a flood of 5,000 pings before authentication gets the close frame 4002, not a reset",
            false,
            &vec![Frame::new(PING, "flood"); 5000],
            close_code(4002),
        ),
        case(
            "a flood of 5,000 malformed frames before authentication gets the close frame 4000",
            false,
            &vec![Frame::text("{"); 5000],
            close_code(4000),
        ),
        case(
            "an oversize first frame, sent whole, gets the close frame 1009, not a reset",
            false,
            &[Frame::text(shout_of(MAX_FRAME_BYTES + 10_000))],
            too_big.clone(),
        ),
        case(
            "a first frame declaring 2^63 - 1 bytes is closed with 1009",
            false,
            &[Frame::text(SHOUT).length(Length::Declared((1 << 63) - 1))],
            too_big.clone(),
        ),
        case(
            "a first frame with RSV1 set is closed with 1002",
            false,
            &[Frame::text(SHOUT).rsv(0b100)],
            protocol_error.clone(),
        ),
        case(
            "invalid UTF-8 in the first frame is closed with 1007",
            false,
            &[Frame::text(
                &b"{\"type\":\"auth\",\"token\":\"\xc3\x28\"}"[..],
            )],
            invalid_utf8.clone(),
        ),
    ]);
    cases
}

/// Silence after the handshake: the relay's 10 seconds, and the bound on
/// top.
pub fn silent_case() -> Case {
    Case {
        name: "a connection that never authenticates is closed with 4002".into(),
        signed_in: false,
        bytes: Vec::new(),
        expect: close_code(4002),
        bound: Duration::from_secs(10) + BOUND,
    }
}
