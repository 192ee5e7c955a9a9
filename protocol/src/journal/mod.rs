//! The journal document (`journal.json`, `samtale-journal/1`), the format a
//! record clerk's export files into a case system, and its verification from
//! its own contents: no key, no server (`docs/JOURNAL-FORMAT.md`). Pure, like
//! the rest of this crate; the client writes the files.

pub mod document;
pub mod manifest;
pub mod verify;
