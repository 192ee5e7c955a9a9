//! The shared minimisation corpus, `vectors/minimise.json`: texts (the
//! guidelines' examples, edge cases, and 600 generated ones built from
//! pieces that come near every rule's boundaries), the people and schools
//! the scanner knows, and the findings `samtale_protocol::minimise` gives.
//!
//! The web app's composer runs the same rules in TypeScript
//! (`web/src/protocol/minimise.ts`); `web/test/minimise.test.ts` runs this
//! file and must give identical findings. Spans are given as JavaScript
//! counts them (UTF-16 code units) beside the excerpt, so both sides compare
//! positions and not just categories. `SAMTALE_WRITE_VECTORS=1` rewrites
//! the file after a deliberate change to the rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use samtale_protocol::minimise::Minimiser;
use serde_json::{Value, json};

/// A known person: (given, family).
type Person = (&'static str, &'static str);

const PEOPLE: [Person; 5] = [
    ("Sofie", "Hansen"),
    ("Julie", "Nielsen"),
    ("Elsa", "Lindqvist"),
    ("Anne Marie", "Due Jensen"),
    ("Åse", "Ørsted-Ødegård"),
];

/// Hand-written cases: the guidelines' examples and the unit tests' edge
/// cases, with the people each assumes.
fn written() -> Vec<(String, Vec<Person>, Vec<&'static str>)> {
    let sofie = vec![PEOPLE[0]];
    let randers = vec![PEOPLE[1], ("Emil", "Berg")];
    let elsa = vec![PEOPLE[2]];
    let none: Vec<Person> = Vec::new();
    let mut cases: Vec<(String, Vec<Person>, Vec<&'static str>)> = Vec::new();
    let mut add = |text: &str, people: &Vec<Person>, schools: Vec<&'static str>| {
        cases.push((text.to_owned(), people.clone(), schools));
    };
    for t in [
        "CPR 010190-1234 og 0101901234.",
        "290200-0123",
        "290200-4123",
        "320190-1234",
        "011390-1234",
        "811218-9876",
        "19811218-9876",
        "811218+9876",
        "198112189876",
        "811218-9875",
        "811278-9873",
        "født 010190-xxxx",
        "010190-12",
        "010190-1*",
        "mødet 11-12",
        "Tlf. 79 79 75 00\ndpo@kolding.dk (her bør der gøres opmærksom på)",
        "+45 12 34 56 78",
        "12345678",
        "0739876543",
        "070-123 45 67",
        "+46 70 123 45 67",
        "0045 1234 5678",
        "kl. 11.00",
        "d. 12-03-2024",
        "2024",
        "mødet i dag kl. 15.00",
        "Du har en ny besked fra Randers Kommune",
        "Du har ett nytt meddelande från Ånge kommun",
        "skriv til a.b-c+d@sub.example.dk. eller x@y",
        "@foo.dk og bar@.dk og baz@host.c og q@h.dk-",
        "ab010190-1234 010190-1234cd 0101901234x",
        // Norwegian fødselsnummer: valid, spaced, a D-nummer, a wrong
        // check digit, an impossible date, and as part of a longer run.
        "fnr 15058512343 og 150585 12424",
        "D-nummer 45058512366",
        "15058512344 og 31129950016 og 150585123430",
        "320585 12343",
        "",
    ] {
        add(t, &none, vec![]);
    }
    for t in [
        "Sofie kommer med til mødet i dag kl. 11.00…",
        "Sofie er blevet forhindret i, at kunne deltage i mødet på skolen i næste uge…",
        "Statusrapport vedr. Sofie er i dag fremsendt via E-boks…",
        "Er det korrekt at vi har statusmøde i morgen kl. 15.00…",
        "Sofie Hansen kommer i dag",
        "Hansen, Sofie",
        "Sofie går på Søndervangskolen",
        "Sofie går på Kolding Friskole",
        "Sofie bor på Vestergade 12B",
        "Sofie bor på Vestergade 12 B",
        "Sofie flytter til 6000 Kolding",
        "Sofies cpr er 010190-1234",
        "Sofie Hansens mor ringer; sofie hansen's far også",
        "Sofie\u{a0}Hansen og Sofie\u{a0}Søndervang Skole",
        "SOFIE HANSEN skal til Rosenhøj Skole",
    ] {
        add(t, &sofie, vec![]);
    }
    add(
        "Julie har 39,5 i feber og har kastet op flere gange i formiddag. I bedes hente hende hurtigst muligt",
        &randers,
        vec![],
    );
    add(
        "Vi har forsøgt at kontakte dig telefonisk. Dit barn er ikke helt på toppen, hvorfor du bedes kontakte os med henblik på at hente hende",
        &randers,
        vec![],
    );
    add(
        "Tak for din henvendelse, du vil modtage svar i AULA snarest muligt. Venlig hilsen XX",
        &randers,
        vec![],
    );
    for t in [
        "Elsa bor på Storgatan 5, 112 51 Stockholm",
        "Elsa går på Vasaskolan",
        "Elsa Lindqvist, 19811218-9876",
        "Elsa är sjuk och har kräkts",
    ] {
        add(t, &elsa, vec![]);
    }
    // Only a first name known (an invitation's "Maja"): the first name and a
    // capitalised word after it are a full name; hyphenated health terms.
    for t in [
        "Husk: Maja Hansen går på Søndervangskolen, og lægen siger ADHD-udredning.",
        "Maja kommer i dag. Hansen ringer senere",
        "Maja  Hansen og Maja\nHansen og Maja-Hansen",
        "Maja er til udredning",
    ] {
        add(t, &vec![("Maja", "")], vec![]);
    }
    add(
        "Anne Marie Due Jensen og Anne-Marie går på Lille Skole",
        &vec![PEOPLE[3]],
        vec!["Lille Skole"],
    );
    add(
        "Æblet ø å 010190-1234 ü 😀 mail: a@b.dk",
        &vec![("Æblet", "Ø")],
        vec![],
    );
    add(
        "😀Åse Ørsted-Ødegård 😀 bor på Ågade 3, 😀 8900 Randers og er på hospitalet 😀",
        &vec![PEOPLE[4]],
        vec![],
    );
    cases
}

/// xorshift64*: a fixed sequence, so the generated texts never change.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A date-shaped run DDMMYY (or YYMMDD), valid or not.
fn date_digits(rng: &mut Rng, swedish: bool) -> String {
    let day = [1, 9, 15, 28, 29, 30, 31, 32, 61, 89, 91][rng.below(11)];
    let month = [1, 2, 4, 6, 11, 12, 13][rng.below(7)];
    let year = rng.below(100);
    if swedish {
        format!("{year:02}{month:02}{day:02}")
    } else {
        format!("{day:02}{month:02}{year:02}")
    }
}

/// Appends the Luhn check digit that makes nine digits valid.
fn luhn_complete(nine: &str) -> String {
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    format!("{nine}{}", (10 - sum % 10) % 10)
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect()
}

fn piece(rng: &mut Rng) -> String {
    match rng.below(16) {
        0 => {
            let sep = rng.pick(&["-", "", "+", " "]);
            format!("{}{sep}{}", date_digits(rng, false), digits(rng, 4))
        }
        1 => {
            let base = date_digits(rng, true);
            let nine = format!("{base}{}", digits(rng, 3));
            let ten = luhn_complete(&nine);
            let century = rng.pick(&["", "19", "20", "18"]);
            let sep = rng.pick(&["-", "", "+"]);
            format!("{century}{}{sep}{}", &ten[..6], &ten[6..])
        }
        2 => {
            let tail = rng.pick(&["xxxx", "XX", "12", "1*", "12345", "x1x1", ""]);
            format!("{}-{tail}", date_digits(rng, false))
        }
        3 => {
            let lead = rng.pick(&["+45 ", "+46 ", "0045 ", "0", "", "+"]);
            let shape = [
                &[8][..],
                &[4, 4],
                &[2, 2, 2, 2],
                &[3, 2, 3],
                &[2, 3, 2, 2],
                &[9],
                &[1, 2, 3],
            ];
            let groups = shape[rng.below(shape.len())];
            let sep = rng.pick(&[" ", "-", "  "]);
            let body: Vec<String> = groups.iter().map(|n| digits(rng, *n)).collect();
            format!("{lead}{}", body.join(sep))
        }
        4 => {
            let local = rng.pick(&["a", "dpo", "x.y", "sofie.hansen", "_", ""]);
            let domain = rng.pick(&[
                "kolding.dk",
                "b.se",
                "host.c",
                ".dk",
                "a-b.example.com-",
                "x",
            ]);
            format!("{local}@{domain}")
        }
        5 | 6 => {
            let (given, family) = PEOPLE[rng.below(PEOPLE.len())];
            match rng.below(6) {
                0 => format!("{given} {family}"),
                1 => format!("{family}, {given}"),
                2 => format!("{given}s"),
                3 => format!("{given} {family}s"),
                4 => given.to_lowercase(),
                _ => family.to_uppercase(),
            }
        }
        7 => rng
            .pick(&[
                "Søndervangskolen",
                "Kolding Friskole",
                "skolen",
                "Vasaskolan",
                "Rosenhøj Skole",
                "rosenhøj skole",
                "Aarhus Gymnasium",
                "Lille Skole",
                "Bøgeskov Efterskole",
                "Ny School",
            ])
            .to_owned(),
        8 => {
            let street = rng.pick(&[
                "Vestergade",
                "Storgatan",
                "Øster Allé",
                "Ågade",
                "vestergade",
                "Nørre Torv",
                "Kungsvägen",
            ]);
            let number = rng.pick(&["12", "12B", "3 B", "12345", "7a", "1"]);
            format!("{street} {number}")
        }
        9 => {
            let postal = rng.pick(&["8900", "6000", "112 51", "11251", "89000"]);
            let town = rng.pick(&["Randers", "Stockholm", "kolding", "Ånge"]);
            format!("{postal} {town}")
        }
        10 => rng
            .pick(&[
                "feber",
                "ADHD",
                "kastet op",
                "Kastet Op",
                "sjukhuset",
                "depression",
                "medicinen",
                "skadestuen",
                "kräkts",
            ])
            .to_owned(),
        11 => rng
            .pick(&[
                "😀", "\u{a0}", "é", "ß", "Σ", "İ", "\u{feff}", "\u{2003}", "\n", "…", "ǅ",
            ])
            .to_owned(),
        12 => {
            let n = 1 + rng.below(13);
            digits(rng, n)
        }
        _ => rng
            .pick(&[
                "mødet",
                "i dag",
                "kl. 11.00",
                "Hej",
                "og",
                "på",
                "bor",
                "går",
                "ring",
                "tlf.",
                "mail:",
                "hos",
                "Kommune",
                "Jobcenter",
                "vedr.",
                "d. 12-03-2024",
                "'",
                "-",
            ])
            .to_owned(),
    }
}

fn generated(count: usize) -> Vec<(String, Vec<Person>, Vec<&'static str>)> {
    let mut rng = Rng(0x5a3d_a1e0_2026_1204);
    (0..count)
        .map(|_| {
            let n = 1 + rng.below(8);
            let mut text = String::new();
            for i in 0..n {
                if i > 0 {
                    text.push_str(rng.pick(&[" ", " ", " ", ", ", "\n", "", "-", ". "]));
                }
                text.push_str(&piece(&mut rng));
            }
            let people: Vec<Person> = match rng.below(4) {
                0 => Vec::new(),
                1 => vec![PEOPLE[rng.below(PEOPLE.len())]],
                _ => PEOPLE.to_vec(),
            };
            let schools = if rng.below(5) == 0 {
                vec!["Lille Skole"]
            } else {
                vec![]
            };
            (text, people, schools)
        })
        .collect()
}

/// A byte offset into `text` as a JavaScript string index.
fn utf16_at(text: &str, byte: usize) -> usize {
    text[..byte].encode_utf16().count()
}

/// Texts with the writer's own contact details known (a caseworker's work
/// phone and e-mail in her signature): those are not reported, others are.
fn with_own_contacts() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "Ring til mig på 89 15 15 15 eller skriv til mette.jensen@randers.dk. Hilsen Mette",
            vec!["+45 8915 1515", "Mette.Jensen@Randers.dk"],
        ),
        (
            "Min telefon: 0045 8915 1515. Din mor har 12 34 56 78, og hendes mail er mor@example.dk",
            vec!["89151515", "mette.jensen@randers.dk"],
        ),
        (
            "Ring 070-123 45 67 eller +46 70 123 45 67",
            vec!["0701234567"],
        ),
    ]
}

fn case(text: &str, people: &[Person], schools: &[&str]) -> Value {
    case_with(text, people, schools, &[])
}

fn case_with(text: &str, people: &[Person], schools: &[&str], contacts: &[&str]) -> Value {
    let mut m = Minimiser::new();
    for c in contacts {
        m = m.with_own_contact(c);
    }
    for (g, f) in people {
        m = m.with_person(g, f);
    }
    for s in schools {
        m = m.with_school(s);
    }
    let findings: Vec<Value> = m
        .scan(text)
        .into_iter()
        .map(|f| {
            json!({
                "category": f.category,
                "start": utf16_at(text, f.span.start),
                "end": utf16_at(text, f.span.end),
                "excerpt": &text[f.span.clone()],
            })
        })
        .collect();
    let mut out = json!({
        "text": text,
        "people": people.iter().map(|(g, f)| json!([g, f])).collect::<Vec<_>>(),
        "schools": schools,
        "findings": findings,
    });
    if !contacts.is_empty() {
        out["own_contacts"] = json!(contacts);
    }
    out
}

#[test]
fn the_shared_corpus_is_what_the_rules_find() {
    let mut cases: Vec<Value> = written().iter().map(|(t, p, s)| case(t, p, s)).collect();
    cases.extend(generated(600).iter().map(|(t, p, s)| case(t, p, s)));
    cases.extend(
        with_own_contacts()
            .iter()
            .map(|(t, c)| case_with(t, &[], &[], c)),
    );
    let with_findings = cases
        .iter()
        .filter(|c| !c["findings"].as_array().unwrap().is_empty())
        .count();
    // The corpus is only useful if it exercises both verdicts widely.
    assert!(
        with_findings > 250 && with_findings < cases.len() - 100,
        "{with_findings}"
    );
    let value = json!({
        "about": "Texts, known people and schools, and the findings of samtale_protocol::minimise. start/end are UTF-16 code unit offsets (JavaScript string indices). Generated by protocol/tests/minimise_corpus.rs; web/test/minimise.test.ts must give identical findings.",
        "cases": cases,
    });
    common::check("minimise.json", &value);
}

#[test]
fn every_category_occurs_in_the_corpus() {
    let corpus = common::committed("minimise.json");
    let mut seen = std::collections::BTreeSet::new();
    for c in corpus["cases"].as_array().unwrap() {
        for f in c["findings"].as_array().unwrap() {
            seen.insert(f["category"].as_str().unwrap().to_owned());
        }
    }
    for category in [
        "danish_cpr",
        "swedish_personnummer",
        "norwegian_fodselsnummer",
        "partial_national_id",
        "email",
        "phone",
        "full_name",
        "name_with_school",
        "name_with_address",
        "name_with_health",
    ] {
        assert!(seen.contains(category), "no {category} in the corpus");
    }
}
