//! The export as one RFC 5322 / MIME message, for case systems that file
//! mail: a plain-text rendering of the conversation, with the PDF, the
//! JSON and every message attachment attached.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::document::{Journal, Role};
use crate::output::assurance_words as level;

/// RFC 2047 encoded-word when the text is not plain ASCII.
fn header_text(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text.as_bytes()))
    }
}

/// A file name as a quoted header parameter: RFC 2047 for non-ASCII,
/// quotes and control characters dropped.
fn header_param(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    header_text(&clean)
}

/// Base64 in lines of 76 characters (RFC 2045).
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out
}

/// The conversation as plain text (the message body).
fn body_text(j: &Journal) -> String {
    let mut t = String::new();
    t.push_str(&format!("{}\n\n", j.subject));
    t.push_str(&format!("Organisation: {}\n", j.organisation.name));
    t.push_str(&format!("Team: {}\n", j.team.name));
    t.push_str(&format!("Case: {}", j.case.reference));
    if let Some(kle) = &j.case.kle {
        t.push_str(&format!(" (KLE {kle})"));
    }
    t.push_str(&format!("\nThread: {}\n", j.thread_id));
    for r in &j.removed {
        t.push_str(&format!(
            "Deleted before this export: messages {} to {} ({})\n",
            r.from_seq, r.to_seq, r.reason
        ));
    }
    t.push_str("Participants:\n");
    for p in &j.participants {
        match (p.role, p.assurance) {
            (Role::Citizen, Some(a)) => {
                t.push_str(&format!("  {} (citizen, identity: {})\n", p.name, level(a)));
            }
            _ => t.push_str(&format!("  {} (staff, {})\n", p.name, j.team.name)),
        }
    }
    t.push('\n');
    for m in &j.messages {
        t.push_str(&format!(
            "[{}] {} {}:\n{}\n",
            m.seq, m.committed_at, m.sender.name, m.text
        ));
        for a in &m.attachments {
            t.push_str(&format!(
                "  Attachment: {} ({} bytes, SHA-256 {})\n",
                a.name, a.size, a.sha256
            ));
        }
        t.push('\n');
    }
    t.push_str(&format!(
        "Exported {} by {} from {}. Checks passed:\n",
        j.export.exported_at, j.export.clerk.name, j.export.server
    ));
    for c in &j.export.checks {
        t.push_str(&format!("  - {c}\n"));
    }
    t
}

/// The whole message, CRLF line endings.
/// `attachments` are the messages' files as (file name, media type, bytes).
pub fn render(
    j: &Journal,
    pdf: &[u8],
    json: &[u8],
    attachments: &[(String, String, Vec<u8>)],
) -> Vec<u8> {
    let boundary = format!("samtale-{}", &j.thread_id.to_string().replace('-', ""));
    let date = time::OffsetDateTime::from_unix_timestamp(
        i64::try_from(j.export.exported_at_ms / 1000).unwrap_or(0),
    )
    .ok()
    .and_then(|t| {
        t.format(&time::format_description::well_known::Rfc2822)
            .ok()
    })
    .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 +0000".into());
    let host = j
        .export
        .server
        .split("://")
        .nth(1)
        .unwrap_or("samtale.invalid")
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("samtale.invalid")
        .to_owned();
    let mut m = String::new();
    m.push_str(&format!(
        "From: {} <samtale-journal@{host}>\r\n",
        header_text(&format!("{} (Samtale)", j.organisation.name))
    ));
    m.push_str(&format!(
        "To: {} <journal@{host}>\r\n",
        header_text(&j.organisation.name)
    ));
    m.push_str(&format!("Subject: {}\r\n", header_text(&j.subject)));
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!(
        "Message-ID: <{}.{}.{}@{host}>\r\n",
        j.thread_id, j.export.up_to_seq, j.export.exported_at_ms
    ));
    m.push_str(&format!("X-Samtale-Thread: {}\r\n", j.thread_id));
    m.push_str(&format!(
        "X-Samtale-Case: {}\r\n",
        header_text(&j.case.reference)
    ));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str("This is a MIME message: a journal export from Samtale.\r\n");
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    m.push_str(&base64_lines(body_text(j).as_bytes()));
    let parts = [
        ("journal.pdf", "application/pdf", pdf),
        ("journal.json", "application/json", json),
    ]
    .into_iter()
    .chain(
        attachments
            .iter()
            .map(|(n, media, b)| (n.as_str(), media.as_str(), b.as_slice())),
    );
    for (name, media, bytes) in parts {
        // A media type or name from a message must not break the header.
        let media = if media
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.+-".contains(&b))
            && media.contains('/')
        {
            media
        } else {
            "application/octet-stream"
        };
        let name = header_param(name);
        m.push_str(&format!("--{boundary}\r\n"));
        m.push_str(&format!("Content-Type: {media}; name=\"{name}\"\r\n"));
        m.push_str(&format!(
            "Content-Disposition: attachment; filename=\"{name}\"\r\n"
        ));
        m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        m.push_str(&base64_lines(bytes));
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}
