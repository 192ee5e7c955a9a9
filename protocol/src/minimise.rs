//! Minimisation checks (BRIEF.md rule 6): find personal data in text that
//! will leave the encrypted channel — notification templates, invitation
//! letters, anything a server may see — and, as advice, in messages.
//!
//! The checks follow the municipal guidelines' own list: a national id
//! number, full or partial (Danish CPR, Swedish personnummer); a first name
//! together with a last name; a name together with a named school, an
//! address or health details; and contact details (e-mail, phone). Names
//! are only known to the caller, so it passes the people it knows about.
//!
//! ```
//! use samtale_protocol::minimise::{Category, Minimiser};
//! let m = Minimiser::new().with_person("Sofie", "Hansen");
//! let text = "Sofie kommer til mødet på skolen i dag";
//! assert!(m.scan(text).is_empty()); // a first name and "the school" are fine
//! let findings = m.scan("Sofie Hansen, 010190-1234, går på Søndervangskolen");
//! let categories: Vec<_> = findings.iter().map(|f| f.category).collect();
//! assert!(categories.contains(&Category::FullName));
//! assert!(categories.contains(&Category::DanishCpr));
//! assert!(categories.contains(&Category::NameWithSchool));
//! ```

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// What kind of personal data a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A Danish CPR number (DDMMYY-XXXX or DDMMYYXXXX with a valid date).
    DanishCpr,
    /// A Swedish personnummer or samordningsnummer (Luhn-checked).
    SwedishPersonnummer,
    /// A Norwegian fødselsnummer or D-nummer (11 digits, a valid date and
    /// both mod-11 check digits).
    NorwegianFodselsnummer,
    /// Part of a national id number: a valid birth date followed by a
    /// separator and masked or incomplete digits (e.g. `010190-xxxx`).
    PartialNationalId,
    /// An e-mail address.
    Email,
    /// A telephone number.
    Phone,
    /// A known person's last name in the same text as their first name.
    FullName,
    /// A named school in the same text as a known person's name.
    NameWithSchool,
    /// An address in the same text as a known person's name.
    NameWithAddress,
    /// Health details in the same text as a known person's name.
    NameWithHealth,
}

impl Category {
    /// What was found, in a few words for people (tables, warnings).
    pub fn label(self) -> &'static str {
        match self {
            Self::DanishCpr => "CPR number",
            Self::SwedishPersonnummer => "personnummer",
            Self::NorwegianFodselsnummer => "fødselsnummer",
            Self::PartialNationalId => "part of a national id",
            Self::Email => "e-mail address",
            Self::Phone => "phone number",
            Self::FullName => "full name",
            Self::NameWithSchool => "name with school",
            Self::NameWithAddress => "name with address",
            Self::NameWithHealth => "name with health details",
        }
    }

    /// A sentence for staff explaining the warning.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::DanishCpr => "a Danish CPR number must never leave the encrypted channel",
            Self::SwedishPersonnummer => {
                "a Swedish personal identity number must never leave the encrypted channel"
            }
            Self::NorwegianFodselsnummer => {
                "a Norwegian national identity number must never leave the encrypted channel"
            }
            Self::PartialNationalId => "even part of a national id number identifies a person",
            Self::Email => "an e-mail address identifies a person",
            Self::Phone => "a phone number identifies a person",
            Self::FullName => {
                "first name and last name together identify a person: use the first name only"
            }
            Self::NameWithSchool => {
                "a name together with a named school identifies a child: write \"the school\""
            }
            Self::NameWithAddress => "a name together with an address identifies a person",
            Self::NameWithHealth => {
                "health details together with a name are sensitive personal data"
            }
        }
    }
}

/// One piece of personal data found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is.
    pub category: Category,
    /// Where it is: a byte range into the scanned text.
    pub span: Range<usize>,
}

/// A person the caller knows about (e.g. the citizens of a thread).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Person {
    given: Vec<String>,
    family: Vec<String>,
}

/// Scans text for personal data.
#[derive(Debug, Clone, Default)]
pub struct Minimiser {
    people: Vec<Person>,
    schools: Vec<Vec<String>>,
    own_contacts: Vec<String>,
}

/// An e-mail address in lower case, or a phone number's last eight digits
/// (so `+45 89 15 15 15`, `0045 8915 1515` and `89151515` are one number).
fn contact_key(text: &str) -> Option<String> {
    let text = text.trim();
    if text.contains('@') {
        return Some(text.to_lowercase());
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 8).then(|| digits[digits.len() - 8..].to_owned())
}

/// Scans without knowledge of any names: national ids, e-mail, phone.
pub fn scan(text: &str) -> Vec<Finding> {
    Minimiser::new().scan(text)
}

fn lower_words(s: &str) -> Vec<String> {
    tokens(s).map(|t| t.text.to_lowercase()).collect()
}

impl Minimiser {
    /// A scanner that knows no names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a person by first (given) and last (family) name. Either may
    /// hold several words ("Anne Marie", "Due Jensen").
    pub fn with_person(mut self, given_name: &str, family_name: &str) -> Self {
        self.people.push(Person {
            given: lower_words(given_name),
            family: lower_words(family_name),
        });
        self
    }

    /// Adds a person by the name as written, such as an invitation's or a
    /// thread's display name: several words are the first name(s) and the
    /// last word the last name ("Sofie Hansen"); one word is a first name
    /// only ("Maja"), and that first name followed by a capitalised word
    /// ("Maja Hansen") counts as a full name.
    pub fn with_name(self, name: &str) -> Self {
        match name.trim().rsplit_once(char::is_whitespace) {
            Some((given, family)) => self.with_person(given, family),
            None => self.with_person(name, ""),
        }
    }

    /// Adds the writer's or the organisation's own e-mail address or phone
    /// number: they are not personal data of the citizen, so they are not
    /// reported (a caseworker's signature with her work phone).
    pub fn with_own_contact(mut self, contact: &str) -> Self {
        if let Some(key) = contact_key(contact) {
            self.own_contacts.push(key);
        }
        self
    }

    /// Adds a school name the caller knows (in addition to the recognised
    /// patterns like "Søndervangskolen" or "Kolding Friskole").
    pub fn with_school(mut self, name: &str) -> Self {
        let words = lower_words(name);
        if !words.is_empty() {
            self.schools.push(words);
        }
        self
    }

    /// All findings, ordered by position.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut findings = national_ids(text);
        let taken: Vec<Range<usize>> = findings.iter().map(|f| f.span.clone()).collect();
        findings.extend(emails(text));
        findings.extend(phones(text, &taken));

        let words: Vec<Token<'_>> = tokens(text).collect();
        let lower: Vec<String> = words.iter().map(|t| t.text.to_lowercase()).collect();
        let mut name_found = false;
        for person in &self.people {
            let given = occurrences(&lower, &person.given);
            let family = occurrences(&lower, &person.family);
            if person.family.is_empty() {
                // Only the first name is known: "Maja Hansen" is a full name.
                for (g, glen) in &given {
                    let Some(next) = words.get(g + glen) else {
                        continue;
                    };
                    let capitalised = next.text.chars().next().is_some_and(char::is_uppercase);
                    if capitalised
                        && text[words[g + glen - 1].span.end..next.span.start]
                            .chars()
                            .all(|c| c == ' ')
                        && next.span.start > words[g + glen - 1].span.end
                    {
                        findings.push(Finding {
                            category: Category::FullName,
                            span: words[*g].span.start..next.span.end,
                        });
                    }
                }
            }
            if !given.is_empty() && !family.is_empty() {
                for (start, len) in &family {
                    // "Sofie Hansen" is reported whole; a lone "Hansen" elsewhere by itself.
                    let adjacent = given.iter().find(|(g, glen)| {
                        g + glen == *start
                            && text[words[g + glen - 1].span.end..words[*start].span.start]
                                .trim()
                                .is_empty()
                    });
                    let from = adjacent.map_or(*start, |(g, _)| *g);
                    findings.push(Finding {
                        category: Category::FullName,
                        span: words[from].span.start..words[start + len - 1].span.end,
                    });
                }
            }
            name_found |= !given.is_empty() || !family.is_empty();
        }
        if name_found {
            for span in self.schools_in(&words, &lower) {
                findings.push(Finding {
                    category: Category::NameWithSchool,
                    span,
                });
            }
            for span in addresses(text, &words) {
                findings.push(Finding {
                    category: Category::NameWithAddress,
                    span,
                });
            }
            for span in health_terms(&words, &lower) {
                findings.push(Finding {
                    category: Category::NameWithHealth,
                    span,
                });
            }
        }
        findings.retain(|f| {
            !matches!(f.category, Category::Email | Category::Phone)
                || contact_key(&text[f.span.clone()])
                    .is_none_or(|key| !self.own_contacts.contains(&key))
        });
        findings.sort_by_key(|f| (f.span.start, f.category));
        findings.dedup();
        findings
    }

    fn schools_in(&self, words: &[Token<'_>], lower: &[String]) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        for school in &self.schools {
            for (start, len) in occurrences(lower, school) {
                spans.push(words[start].span.start..words[start + len - 1].span.end);
            }
        }
        const SUFFIXES: [&str; 10] = [
            "skole",
            "skolen",
            "skola",
            "skolan",
            "gymnasium",
            "gymnasiet",
            "gymnasiet",
            "school",
            "friskole",
            "efterskole",
        ];
        for (i, w) in lower.iter().enumerate() {
            let capitalised = words[i].text.chars().next().is_some_and(char::is_uppercase);
            // A compound like "Søndervangskolen" names a school; "skolen" alone does not.
            let compound = SUFFIXES
                .iter()
                .any(|s| w.ends_with(s) && w.chars().count() > s.chars().count() + 2);
            // "Kolding Friskole", "Rosenhøj Skole": a capitalised word before a school word.
            let two_word = SUFFIXES.contains(&w.as_str())
                && i > 0
                && words[i - 1]
                    .text
                    .chars()
                    .next()
                    .is_some_and(char::is_uppercase)
                && words[i].span.start - words[i - 1].span.end <= 1;
            if capitalised && compound {
                spans.push(words[i].span.clone());
            } else if two_word && capitalised {
                spans.push(words[i - 1].span.start..words[i].span.end);
            }
        }
        spans
    }
}

/// Finds `needle` (lowercase words) in `haystack`, allowing a genitive `s`
/// on the last word. Returns (start index, word count).
fn occurrences(haystack: &[String], needle: &[String]) -> Vec<(usize, usize)> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    (0..=haystack.len() - needle.len())
        .filter(|&i| {
            needle.iter().enumerate().all(|(j, n)| {
                let w = &haystack[i + j];
                w == n
                    || (j == needle.len() - 1
                        && (w.strip_suffix('s') == Some(n.as_str())
                            || w.strip_suffix("'s") == Some(n.as_str())))
            })
        })
        .map(|i| (i, needle.len()))
        .collect()
}

#[derive(Debug, Clone)]
struct Token<'a> {
    text: &'a str,
    span: Range<usize>,
}

/// Words: runs of letters, with inner hyphens and apostrophes ("Anne-Marie").
fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let joiner = (c == '-' || c == '\'')
            && start.is_some()
            && chars.get(k + 1).is_some_and(|(_, n)| n.is_alphabetic());
        if c.is_alphabetic() || joiner {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(Token {
                text: &text[s..i],
                span: s..i,
            });
        }
    }
    if let Some(s) = start {
        out.push(Token {
            text: &text[s..],
            span: s..text.len(),
        });
    }
    out.into_iter()
}

// ------------------------------------------------------------ national ids

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn num(d: &[u8]) -> u32 {
    d.iter().fold(0, |acc, x| acc * 10 + u32::from(*x))
}

/// The CPR century rule: the 7th digit and the year decide the century.
fn cpr_valid(d: &[u8; 10]) -> bool {
    let (day, month, yy) = (num(&d[0..2]), num(&d[2..4]), num(&d[4..6]));
    let century = match d[6] {
        0..=3 => 1900,
        4 | 9 => {
            if yy <= 36 {
                2000
            } else {
                1900
            }
        }
        _ => {
            if yy <= 57 {
                2000
            } else {
                1800
            }
        }
    };
    valid_date(century + yy, month, day)
}

fn luhn_valid(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let v = u32::from(x) * if i % 2 == 0 { 2 } else { 1 };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// YYMMDD (+ optional century) with the samordningsnummer day offset of 60.
fn se_date_valid(century: Option<u32>, d: &[u8]) -> bool {
    let (yy, month, mut day) = (num(&d[0..2]), num(&d[2..4]), num(&d[4..6]));
    if day > 60 {
        day -= 60;
    }
    match century {
        Some(c) => valid_date(c * 100 + yy, month, day),
        None => valid_date(1900 + yy, month, day) || valid_date(2000 + yy, month, day),
    }
}

fn se_valid(century: Option<u32>, ten: &[u8; 10]) -> bool {
    se_date_valid(century, &ten[..6]) && luhn_valid(ten)
}

/// A Norwegian fødselsnummer: DDMMYY (a D-nummer adds 40 to the day, an
/// H-nummer 40 to the month), three individual digits and two mod-11 check
/// digits. The date must exist in 19YY or 20YY.
fn no_valid(d: &[u8; 11]) -> bool {
    let check = |weights: &[u32], digits: &[u8]| -> Option<u8> {
        let sum: u32 = weights
            .iter()
            .zip(digits)
            .map(|(w, d)| w * u32::from(*d))
            .sum();
        match 11 - sum % 11 {
            11 => Some(0),
            10 => None,
            k => u8::try_from(k).ok(),
        }
    };
    let Some(k1) = check(&[3, 7, 6, 1, 8, 9, 4, 5, 2], &d[..9]) else {
        return false;
    };
    let Some(k2) = check(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2], &d[..10]) else {
        return false;
    };
    if d[9] != k1 || d[10] != k2 {
        return false;
    }
    let mut day = num(&d[0..2]);
    let mut month = num(&d[2..4]);
    if day > 40 {
        day -= 40;
    }
    if month > 40 {
        month -= 40;
    }
    let yy = num(&d[4..6]);
    valid_date(1900 + yy, month, day) || valid_date(2000 + yy, month, day)
}

fn dk_date_valid(d: &[u8]) -> bool {
    let (day, month, yy) = (num(&d[0..2]), num(&d[2..4]), num(&d[4..6]));
    valid_date(1900 + yy, month, day) || valid_date(2000 + yy, month, day)
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric())
}

fn national_ids(text: &str) -> Vec<Finding> {
    let bytes = text.as_bytes();
    let mut findings = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // Only ASCII bytes are looked at, so `i` is a char boundary when used.
        if !bytes[i].is_ascii_digit() || is_word_char(text[..i].chars().next_back()) {
            i += 1;
            continue;
        }
        let run_end = i + bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let first: Vec<u8> = bytes[i..run_end].iter().map(|b| b - b'0').collect();
        let sep = bytes.get(run_end).copied();
        let second_start = run_end + 1;
        let second_len = bytes
            .get(second_start..)
            .map(|r| r.iter().take_while(|b| b.is_ascii_digit()).count())
            .unwrap_or(0);
        let mut matched: Option<(usize, Vec<Category>)> = None;

        let ends_clean = |end: usize| !is_word_char(text[end..].chars().next());
        if matches!(sep, Some(b'-' | b'+'))
            && (first.len() == 6 || first.len() == 8)
            && second_len == 4
        {
            let end = second_start + 4;
            if ends_clean(end) {
                let last: Vec<u8> = bytes[second_start..end].iter().map(|b| b - b'0').collect();
                let mut ten = [0u8; 10];
                ten[..6].copy_from_slice(&first[first.len() - 6..]);
                ten[6..].copy_from_slice(&last);
                let mut cats = Vec::new();
                if first.len() == 6 && sep == Some(b'-') && cpr_valid(&ten) {
                    cats.push(Category::DanishCpr);
                }
                let century = (first.len() == 8).then(|| num(&first[..2]));
                if se_valid(century, &ten) {
                    cats.push(Category::SwedishPersonnummer);
                }
                if !cats.is_empty() {
                    matched = Some((end, cats));
                }
            }
        } else if (first.len() == 10 || first.len() == 12) && !matches!(sep, Some(b'-' | b'+')) {
            let mut ten = [0u8; 10];
            ten.copy_from_slice(&first[first.len() - 10..]);
            let mut cats = Vec::new();
            if first.len() == 10 && cpr_valid(&ten) {
                cats.push(Category::DanishCpr);
            }
            let century = (first.len() == 12).then(|| num(&first[..2]));
            if se_valid(century, &ten) {
                cats.push(Category::SwedishPersonnummer);
            }
            if !cats.is_empty() {
                matched = Some((run_end, cats));
            }
        }
        // A Norwegian fødselsnummer: eleven digits, or six, a space and five.
        if matched.is_none() {
            let eleven: Option<(Vec<u8>, usize)> = if first.len() == 11 {
                Some((first.clone(), run_end))
            } else if first.len() == 6
                && sep == Some(b' ')
                && second_len == 5
                && ends_clean(second_start + 5)
            {
                let mut d = first.clone();
                d.extend(
                    bytes[second_start..second_start + 5]
                        .iter()
                        .map(|b| b - b'0'),
                );
                Some((d, second_start + 5))
            } else {
                None
            };
            if let Some((digits, end)) = eleven
                && let Ok(d) = <[u8; 11]>::try_from(digits.as_slice())
                && no_valid(&d)
            {
                matched = Some((end, vec![Category::NorwegianFodselsnummer]));
            }
        }
        if matched.is_none() && first.len() == 6 && sep == Some(b'-') && dk_date_valid(&first) {
            // A birth date, a dash and masked or incomplete digits: 010190-xxxx, 010190-12.
            let tail: usize = bytes[second_start..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || matches!(b, b'x' | b'X' | b'*'))
                .count();
            let masked = bytes[second_start..second_start + tail]
                .iter()
                .any(|b| !b.is_ascii_digit());
            if (1..=4).contains(&tail) && (masked || tail < 4) && ends_clean(second_start + tail) {
                matched = Some((second_start + tail, vec![Category::PartialNationalId]));
            }
        }
        match matched {
            Some((end, cats)) => {
                // One finding per number: ten digits valid both as a CPR
                // number and as a personnummer are one national id (the
                // Danish reading first), not two.
                if let Some(category) = cats.first() {
                    findings.push(Finding {
                        category: *category,
                        span: i..end,
                    });
                }
                i = end;
            }
            None => i = run_end,
        }
    }
    findings
}

// ------------------------------------------------------- e-mail and phone

fn emails(text: &str) -> Vec<Finding> {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        let start = at - bytes[..at].iter().rev().take_while(|b| local(**b)).count();
        let mut end = at + 1 + bytes[at + 1..].iter().take_while(|b| domain(**b)).count();
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let dom = &text[at + 1..end];
        let tld_ok = dom.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
        });
        if start < at && tld_ok {
            out.push(Finding {
                category: Category::Email,
                span: start..end,
            });
        }
    }
    out
}

fn phones(text: &str, taken: &[Range<usize>]) -> Vec<Finding> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = (bytes[i] == b'+' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            || bytes[i].is_ascii_digit();
        if !starts
            || is_word_char(text[..i].chars().next_back())
            || taken.iter().any(|r| r.contains(&i))
        {
            i += 1;
            continue;
        }
        // Digit groups separated by single spaces or hyphens.
        let mut groups: Vec<usize> = Vec::new();
        let mut j = if bytes[i] == b'+' { i + 1 } else { i };
        let mut end = j;
        loop {
            let len = bytes[j..].iter().take_while(|b| b.is_ascii_digit()).count();
            if len == 0 {
                break;
            }
            groups.push(len);
            end = j + len;
            match (bytes.get(end), bytes.get(end + 1)) {
                (Some(b' ' | b'-'), Some(n)) if n.is_ascii_digit() => j = end + 1,
                _ => break,
            }
        }
        let digits: usize = groups.iter().sum();
        let international = bytes[i] == b'+' || bytes[i..].starts_with(b"00");
        let national_se = bytes[i] == b'0' && !international;
        let dk_shape = matches!(groups.as_slice(), [8] | [4, 4] | [2, 2, 2, 2] | [3, 2, 3]);
        let is_phone = if international {
            (10..=15).contains(&digits)
        } else if national_se {
            // An area code of 2-4 digits ("08", "070", "0771"), then the number.
            (8..=10).contains(&digits)
                && groups.len() <= 4
                && (groups.len() == 1 || (2..=4).contains(&groups[0]))
        } else {
            digits == 8 && dk_shape
        };
        let clean_end = !is_word_char(text[end..].chars().next());
        if is_phone && clean_end {
            out.push(Finding {
                category: Category::Phone,
                span: i..end,
            });
            i = end;
        } else {
            i = end.max(i + 1);
        }
    }
    out
}

// ------------------------------------------------- addresses and health

const STREET_SUFFIXES: [&str; 20] = [
    "gade",
    "gaden",
    "vej",
    "vejen",
    "vænget",
    "allé",
    "alle",
    "plads",
    "torv",
    "stræde",
    "stien",
    "gatan",
    "vägen",
    "väg",
    "gränd",
    "torget",
    "stigen",
    "backe",
    "leden",
    "boulevard",
];

fn addresses(text: &str, words: &[Token<'_>]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let number_after = |end: usize| -> Option<usize> {
        let rest = text[end..].strip_prefix(' ')?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 4 {
            return None;
        }
        let mut stop = end + 1 + digits;
        // A house letter: "12B", "12 B" is not taken.
        if text[stop..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && !is_word_char(text[stop + 1..].chars().next())
        {
            stop += 1;
        }
        Some(stop)
    };
    for (i, w) in words.iter().enumerate() {
        let lower = w.text.to_lowercase();
        let street = STREET_SUFFIXES.iter().any(|s| lower.ends_with(s));
        let capitalised = w.text.chars().next().is_some_and(char::is_uppercase)
            || (i > 0
                && words[i - 1]
                    .text
                    .chars()
                    .next()
                    .is_some_and(char::is_uppercase));
        if street
            && capitalised
            && let Some(stop) = number_after(w.span.end)
        {
            spans.push(w.span.start..stop);
        }
    }
    // Postal code and town: "8900 Randers", "112 51 Stockholm".
    let bytes = text.as_bytes();
    for w in words {
        if !w.text.chars().next().is_some_and(char::is_uppercase) || w.span.start < 2 {
            continue;
        }
        let before = &bytes[..w.span.start - 1];
        if bytes[w.span.start - 1] != b' ' {
            continue;
        }
        let d1 = before
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let start_dk = before.len() - d1;
        let clean = |s: usize| s == 0 || !is_word_char(text[..s].chars().next_back());
        if d1 == 4 && clean(start_dk) {
            spans.push(start_dk..w.span.end);
        } else if d1 == 2 && start_dk >= 4 && before[start_dk - 1] == b' ' {
            let lead = &before[..start_dk - 1];
            let d0 = lead.iter().rev().take_while(|b| b.is_ascii_digit()).count();
            if d0 == 3 && clean(lead.len() - 3) {
                spans.push(lead.len() - 3..w.span.end);
            }
        }
    }
    spans
}

const HEALTH_TERMS: [&str; 38] = [
    "feber",
    "udredning",
    "udredningen",
    "utredning",
    "utredningen",
    "syg",
    "sygdom",
    "opkast",
    "diagnose",
    "diagnosen",
    "medicin",
    "medicinen",
    "psykiatri",
    "psykiatrisk",
    "psykiatrien",
    "depression",
    "angst",
    "adhd",
    "autisme",
    "indlagt",
    "hospital",
    "hospitalet",
    "skadestuen",
    "misbrug",
    "sjuk",
    "sjukdom",
    "diagnos",
    "medicinering",
    "psykisk",
    "psykiatrin",
    "sjukhus",
    "sjukhuset",
    "kräkts",
    "kräkningar",
    "abort",
    "gravid",
    "selvmord",
    "självmord",
];

fn health_terms(words: &[Token<'_>], lower: &[String]) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = lower
        .iter()
        .enumerate()
        // "ADHD-udredning": any part of a hyphenated word counts.
        .filter(|(_, w)| w.split('-').any(|part| HEALTH_TERMS.contains(&part)))
        .map(|(i, _)| words[i].span.clone())
        .collect();
    // "kastet op" (vomited) is two words.
    for i in 1..lower.len() {
        if lower[i - 1] == "kastet" && lower[i] == "op" {
            spans.push(words[i - 1].span.start..words[i].span.end);
        }
    }
    spans
}

/// Why a case reference or KLE subject number is refused. A case reference
/// leaves the encrypted channel (the server stores it, every participant
/// sees "Filed on case …"), so it gets the same checks as other such text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseReferenceError {
    /// Empty, or longer than 100 characters.
    #[error("give the case number, 1 to 100 characters")]
    Length,
    /// It holds control characters.
    #[error("control characters are not allowed in a case reference")]
    Control,
    /// The minimisation rules flag it.
    #[error(
        "the case reference looks like it holds personal data ({0}); give the case number only"
    )]
    Personal(&'static str),
    /// Not a KLE subject number.
    #[error("expected a KLE subject number like 27.12.04, got {0:?}")]
    Kle(String),
}

/// Checks a case reference (free text for the case system's number) and
/// returns it trimmed.
///
/// ```
/// use samtale_protocol::minimise::check_case_reference;
/// assert_eq!(check_case_reference(" 2026-004711 "), Ok("2026-004711"));
/// assert!(check_case_reference("Maja 140114-4444").is_err());
/// ```
pub fn check_case_reference(text: &str) -> Result<&str, CaseReferenceError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 100 {
        return Err(CaseReferenceError::Length);
    }
    if text.chars().any(char::is_control) {
        return Err(CaseReferenceError::Control);
    }
    match scan(text).first() {
        Some(f) => Err(CaseReferenceError::Personal(f.category.explanation())),
        None => Ok(text),
    }
}

/// Checks a KLE subject number: `27`, `27.12` or `27.12.04`.
///
/// ```
/// use samtale_protocol::minimise::check_kle;
/// assert!(check_kle("27.12.04").is_ok());
/// assert!(check_kle("27-12").is_err());
/// ```
pub fn check_kle(kle: &str) -> Result<(), CaseReferenceError> {
    let parts: Vec<&str> = kle.split('.').collect();
    let ok = parts.len() <= 3
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(CaseReferenceError::Kle(kle.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(findings: &[Finding]) -> Vec<Category> {
        findings.iter().map(|f| f.category).collect()
    }

    #[test]
    fn cpr_numbers_with_valid_dates_are_found_in_both_forms() {
        let text = "CPR 010190-1234 og 0101901234.";
        let f = scan(text);
        assert_eq!(cats(&f), vec![Category::DanishCpr, Category::DanishCpr]);
        assert_eq!(&text[f[0].span.clone()], "010190-1234");
        assert_eq!(&text[f[1].span.clone()], "0101901234");
    }

    #[test]
    fn a_number_valid_as_cpr_and_as_personnummer_is_one_finding() {
        // 010203-1234 is a valid CPR date; as a personnummer (2001-02-03)
        // its check digit is right too. Reported once, as CPR.
        for text in ["010203-1234", "0102031234"] {
            assert!(
                se_valid(None, &digits10(text)),
                "{text} passes the Luhn check too"
            );
            assert_eq!(cats(&scan(text)), vec![Category::DanishCpr], "{text}");
        }
        // Valid only as a personnummer: reported as one.
        assert_eq!(
            cats(&scan("811218-9876")),
            vec![Category::SwedishPersonnummer]
        );
    }

    fn digits10(text: &str) -> [u8; 10] {
        let d: Vec<u8> = text
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        let mut out = [0u8; 10];
        out.copy_from_slice(&d[d.len() - 10..]);
        out
    }

    #[test]
    fn cpr_dates_follow_the_century_rule() {
        // 29 February 1900 did not exist (7th digit 0-3 means 1900s) ...
        assert!(scan("290200-0123").is_empty());
        // ... but 29 February 2000 did (7th digit 4, year 00 means 2000s).
        assert_eq!(cats(&scan("290200-4123")), vec![Category::DanishCpr]);
        assert!(scan("320190-1234").is_empty());
        assert!(scan("011390-1234").is_empty());
    }

    #[test]
    fn swedish_personnummer_are_luhn_checked_in_every_form() {
        // 811218-9876 is the Swedish Tax Agency's example with a valid check digit.
        for text in [
            "811218-9876",
            "19811218-9876",
            "811218+9876",
            "198112189876",
        ] {
            assert!(
                cats(&scan(text)).contains(&Category::SwedishPersonnummer),
                "{text}"
            );
        }
        assert!(!cats(&scan("811218-9875")).contains(&Category::SwedishPersonnummer));
        // A samordningsnummer adds 60 to the day.
        assert!(cats(&scan("811278-9873")).contains(&Category::SwedishPersonnummer));
    }

    #[test]
    fn norwegian_fodselsnummer_with_both_check_digits() {
        for text in ["15058512343", "150585 12424", "45058512366", "31129950016"] {
            assert_eq!(
                cats(&scan(text)),
                vec![Category::NorwegianFodselsnummer],
                "{text}"
            );
        }
        // One check digit off, or eleven digits inside a longer number.
        assert!(!cats(&scan("15058512344")).contains(&Category::NorwegianFodselsnummer));
        assert!(!cats(&scan("150585123430")).contains(&Category::NorwegianFodselsnummer));
    }

    #[test]
    fn partial_national_ids_are_found() {
        assert_eq!(
            cats(&scan("født 010190-xxxx")),
            vec![Category::PartialNationalId]
        );
        assert_eq!(cats(&scan("010190-12")), vec![Category::PartialNationalId]);
        assert!(scan("mødet 11-12").is_empty());
    }

    #[test]
    fn the_kolding_guideline_contact_lines_are_flagged() {
        let text = "Tlf. 79 79 75 00\ndpo@kolding.dk (her bør der gøres opmærksom på)";
        let f = scan(text);
        assert_eq!(cats(&f), vec![Category::Phone, Category::Email]);
        assert_eq!(&text[f[0].span.clone()], "79 79 75 00");
        assert_eq!(&text[f[1].span.clone()], "dpo@kolding.dk");
    }

    #[test]
    fn phone_numbers_in_danish_swedish_and_international_form() {
        for text in [
            "+45 12 34 56 78",
            "12345678",
            "0739876543",
            "070-123 45 67",
            "+46 70 123 45 67",
            "0045 1234 5678",
        ] {
            assert_eq!(cats(&scan(text)), vec![Category::Phone], "{text}");
        }
        for text in [
            "kl. 11.00",
            "d. 12-03-2024",
            "2024",
            "mødet i dag kl. 15.00",
        ] {
            assert!(scan(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn the_kolding_guideline_examples_pass_and_its_forbidden_combinations_do_not() {
        let m = Minimiser::new().with_person("Sofie", "Hansen");
        // The guideline's allowed examples: first name only, "the school".
        for ok in [
            "Sofie kommer med til mødet i dag kl. 11.00…",
            "Sofie er blevet forhindret i, at kunne deltage i mødet på skolen i næste uge…",
            "Statusrapport vedr. Sofie er i dag fremsendt via E-boks…",
            "Er det korrekt at vi har statusmøde i morgen kl. 15.00…",
        ] {
            assert!(m.scan(ok).is_empty(), "{ok}");
        }
        // Forbidden: name + last name, name + school, name + address, CPR.
        let text = "Sofie Hansen kommer i dag";
        let full = m.scan(text);
        assert_eq!(cats(&full), vec![Category::FullName]);
        assert_eq!(&text[full[0].span.clone()], "Sofie Hansen");
        assert!(cats(&m.scan("Hansen, Sofie")).contains(&Category::FullName));
        assert!(cats(&m.scan("Sofie går på Søndervangskolen")).contains(&Category::NameWithSchool));
        assert!(cats(&m.scan("Sofie går på Kolding Friskole")).contains(&Category::NameWithSchool));
        assert!(cats(&m.scan("Sofie bor på Vestergade 12B")).contains(&Category::NameWithAddress));
        assert!(
            cats(&m.scan("Sofie flytter til 6000 Kolding")).contains(&Category::NameWithAddress)
        );
        assert!(cats(&m.scan("Sofies cpr er 010190-1234")).contains(&Category::DanishCpr));
    }

    #[test]
    fn the_randers_appendix_examples_are_flagged_and_their_rewrites_are_not() {
        let m = Minimiser::new()
            .with_person("Julie", "Nielsen")
            .with_person("Emil", "Berg");
        let sms = "Julie har 39,5 i feber og har kastet op flere gange i formiddag. I bedes hente hende hurtigst muligt";
        let found = cats(&m.scan(sms));
        assert!(found.contains(&Category::NameWithHealth), "{found:?}");
        let rewrite = "Vi har forsøgt at kontakte dig telefonisk. Dit barn er ikke helt på toppen, hvorfor du bedes kontakte os med henblik på at hente hende";
        assert!(m.scan(rewrite).is_empty());
        let reply =
            "Tak for din henvendelse, du vil modtage svar i AULA snarest muligt. Venlig hilsen XX";
        assert!(m.scan(reply).is_empty());
    }

    #[test]
    fn swedish_examples_are_flagged() {
        let m = Minimiser::new().with_person("Elsa", "Lindqvist");
        assert!(
            cats(&m.scan("Elsa bor på Storgatan 5, 112 51 Stockholm"))
                .contains(&Category::NameWithAddress)
        );
        assert!(cats(&m.scan("Elsa går på Vasaskolan")).contains(&Category::NameWithSchool));
        assert!(
            cats(&m.scan("Elsa Lindqvist, 19811218-9876")).contains(&Category::SwedishPersonnummer)
        );
    }

    #[test]
    fn a_neutral_notification_has_no_findings() {
        let m = Minimiser::new().with_person("Sofie", "Hansen");
        for text in [
            "Du har en ny besked fra Randers Kommune",
            "Du har ett nytt meddelande från Ånge kommun",
        ] {
            assert!(m.scan(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn spans_are_valid_on_any_utf8_text() {
        let text = "Æblet ø å 010190-1234 ü 😀 mail: a@b.dk";
        for f in Minimiser::new().with_person("Æblet", "Ø").scan(text) {
            assert!(text.get(f.span.clone()).is_some());
        }
    }
}
