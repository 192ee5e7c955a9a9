//! The chat view rendered with ratatui's test backend and compared with
//! reviewed snapshots: the thread list, a conversation with a verified
//! caseworker, a verified and an unverified citizen (with the banner staff
//! must see), a message that failed verification, and the minimisation
//! hint while staff type.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use samtale_cli::client::{
    AttachmentInfo, Badge, Banner, Body, Participant, Sender, ShownMessage, ThreadRow, ThreadView,
};
use samtale_cli::tui::{Action, ChatModel, Focus, draw, on_key};
use samtale_protocol::wire::{AssuranceLevel, ConsentState};
use samtale_protocol::{MessageId, ThreadId};
use support::assert_snapshot;
use time::UtcOffset;

/// 2026-11-30 09:00 UTC.
const T0: u64 = 1_796_029_200_000;

fn render(model: &ChatModel) -> String {
    let mut terminal = Terminal::new(TestBackend::new(132, 32)).unwrap();
    terminal.draw(|f| draw(f, model)).unwrap();
    samtale_cli::tui::screen_text(terminal.backend().buffer())
}

fn participant(name: &str, assurance: AssuranceLevel) -> Participant {
    Participant {
        name: name.into(),
        assurance,
        consent: ConsentState::Given,
        me: false,
    }
}

fn rows() -> Vec<ThreadRow> {
    vec![
        ThreadRow {
            thread_id: ThreadId::from_bytes([1; 16]),
            team: "Familieplejen".into(),
            participants: vec![
                participant("Maja Hansen", AssuranceLevel::Substantial),
                participant("Ole", AssuranceLevel::Unverified),
            ],
            messages: 4,
            unread: 2,
            last_activity_ms: T0 + 3_600_000,
            journaled_up_to: None,
        },
        ThreadRow {
            thread_id: ThreadId::from_bytes([2; 16]),
            team: "Jobcenter".into(),
            participants: vec![participant("Elsa", AssuranceLevel::High)],
            messages: 12,
            unread: 0,
            last_activity_ms: T0 - 86_400_000,
            journaled_up_to: Some(12),
        },
    ]
}

fn message(seq: u64, sender: Option<Sender>, body: Body) -> ShownMessage {
    ShownMessage {
        seq,
        message_id: MessageId::from_bytes([seq as u8; 16]),
        at_ms: T0 + seq * 60_000,
        sender,
        body,
        delivered: seq == 1,
        read: seq == 1,
        not_journaled: false,
    }
}

fn text(t: &str) -> Body {
    Body::Ok {
        text: t.into(),
        attachments: Vec::new(),
    }
}

fn conversation() -> ThreadView {
    let mette = Sender {
        name: "Mette Jensen".into(),
        team: Some("Familieplejen".into()),
        badge: Badge::Certified,
        me: true,
    };
    ThreadView {
        row: rows().remove(0),
        banners: vec![Banner::Unverified { name: "Ole".into() }],
        messages: vec![
            message(
                1,
                Some(mette.clone()),
                Body::Ok {
                    text: "Hej begge to. Her er planen for weekenden.".into(),
                    attachments: vec![AttachmentInfo {
                        index: 1,
                        name: "plan.pdf".into(),
                        media_type: "application/pdf".into(),
                        size: 18_211,
                    }],
                },
            ),
            message(
                2,
                Some(Sender {
                    name: "Maja Hansen".into(),
                    team: None,
                    badge: Badge::Citizen {
                        assurance: AssuranceLevel::Substantial,
                    },
                    me: false,
                }),
                text("Tak, det passer fint."),
            ),
            message(
                3,
                Some(Sender {
                    name: "Ole".into(),
                    team: None,
                    badge: Badge::Citizen {
                        assurance: AssuranceLevel::Unverified,
                    },
                    me: false,
                }),
                text("Hvornår skal vi hente?"),
            ),
            message(
                4,
                None,
                Body::Failed {
                    reason: "sent from a device that is not one of this thread's participants"
                        .into(),
                },
            ),
        ],
    }
}

fn model() -> ChatModel {
    let mut m = ChatModel::new(
        "Mette Jensen · Randers Kommune".into(),
        true,
        UtcOffset::UTC,
    );
    m.threads = rows();
    m.status = "connected".into();
    m
}

#[test]
fn the_thread_list_shows_unread_counts_identity_levels_and_journal_state() {
    let m = model();
    let screen = render(&m);
    assert!(screen.contains("Ole (unverified)"));
    assert!(screen.contains("2 new ·"));
    assert!(screen.contains("filed"));
    assert_snapshot("tui-thread-list.txt", &screen);
}

#[test]
fn a_conversation_shows_verified_and_unverified_participants_and_the_banner() {
    let mut m = model();
    m.view = Some(conversation());
    m.focus = Focus::Compose;
    let screen = render(&m);
    assert!(screen.contains("Mette Jensen · Familieplejen ✔ verified"));
    assert!(screen.contains("(eID substantial)"));
    assert!(screen.contains("Ole (unverified)"));
    assert!(screen.contains("give general answers only"));
    assert!(screen.contains("⚠ unverified sender"));
    assert!(screen.contains("✓✓ read"));
    assert_snapshot("tui-conversation.txt", &screen);
}

#[test]
fn staff_see_a_minimisation_hint_while_they_type() {
    let mut m = model();
    m.view = Some(conversation());
    m.focus = Focus::Compose;
    for c in "Maja Hansen går på Søndervangskolen, CPR 010203-1234".chars() {
        on_key(&mut m, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let hints = m.hints();
    assert!(
        hints.iter().any(|h| h.starts_with("CPR number")),
        "{hints:?}"
    );
    assert!(
        hints.iter().any(|h| h.starts_with("full name")),
        "{hints:?}"
    );
    let screen = render(&m);
    assert!(screen.contains("⚠ CPR number"), "{screen}");
    assert_snapshot("tui-minimisation-hint.txt", &screen);
    // Citizens get no hints (they write about themselves).
    m.staff = false;
    assert!(m.hints().is_empty());
}

#[test]
fn keys_move_through_the_list_open_send_and_quit() {
    let mut m = model();
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    assert_eq!(on_key(&mut m, key(KeyCode::Down)), Action::None);
    assert_eq!(m.selected, 1);
    assert_eq!(on_key(&mut m, key(KeyCode::Down)), Action::None);
    assert_eq!(m.selected, 1, "stays on the last thread");
    assert_eq!(on_key(&mut m, key(KeyCode::Enter)), Action::Open);
    assert_eq!(m.focus, Focus::Compose);
    assert_eq!(
        on_key(&mut m, key(KeyCode::Enter)),
        Action::None,
        "nothing to send"
    );
    on_key(&mut m, key(KeyCode::Char('q')));
    assert_eq!(m.input, "q", "q is text while writing");
    assert_eq!(on_key(&mut m, key(KeyCode::Enter)), Action::Send);
    on_key(&mut m, key(KeyCode::F(1)));
    assert!(m.help);
    assert!(render(&m).contains(" Keys "));
    on_key(&mut m, key(KeyCode::Esc));
    assert!(!m.help);
    on_key(&mut m, key(KeyCode::Esc));
    assert_eq!(m.focus, Focus::Threads);
    assert_eq!(on_key(&mut m, key(KeyCode::Char('q'))), Action::Quit);
    assert_eq!(
        on_key(
            &mut m,
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
        ),
        Action::Quit
    );
}

#[test]
fn enter_holds_a_message_with_personal_data_until_pressed_again_as_send_does() {
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut m = model();
    m.view = Some(conversation());
    m.focus = Focus::Compose;
    for c in "CPR 010203-1234".chars() {
        on_key(&mut m, key(KeyCode::Char(c)));
    }
    // Held: the first Enter only explains, in send's words.
    assert_eq!(on_key(&mut m, key(KeyCode::Enter)), Action::None);
    assert!(m.status.contains(samtale_cli::tui::HELD), "{}", m.status);
    // A change asks again.
    on_key(&mut m, key(KeyCode::Char('.')));
    assert_eq!(on_key(&mut m, key(KeyCode::Enter)), Action::None);
    // Enter again on the same text sends it anyway.
    assert_eq!(on_key(&mut m, key(KeyCode::Enter)), Action::Send);
    // A clean text goes at once (the control).
    let mut clean = model();
    clean.view = Some(conversation());
    clean.focus = Focus::Compose;
    for c in "Vi ses torsdag".chars() {
        on_key(&mut clean, key(KeyCode::Char(c)));
    }
    assert_eq!(on_key(&mut clean, key(KeyCode::Enter)), Action::Send);
}

/// At 80 and at 45 columns, with messages long enough to wrap, the newest
/// message is on screen (counting lines instead of rows as drawn hid it),
/// and a long banner stays inside its area.
#[test]
fn the_newest_message_is_visible_at_narrow_widths() {
    let mut m = model();
    let mut view = conversation();
    view.banners = vec![Banner::Unverified {
        name: "Ole Kristian Vestergaard-Holm".into(),
    }];
    let long = "Vi har talt om planen for weekenden, og alle er enige om at mødes lørdag formiddag ved biblioteket, hvor der er plads til at tale i ro. ";
    view.messages = (1..=12)
        .map(|i| message(i, None, text(&format!("{i}: {}", long.repeat(2)))))
        .chain(std::iter::once(message(
            13,
            None,
            text("Den nyeste besked."),
        )))
        .collect();
    m.view = Some(view);
    m.focus = Focus::Compose;
    for (width, height) in [(80, 24), (45, 30)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| draw(f, &m)).unwrap();
        let screen = samtale_cli::tui::screen_text(terminal.backend().buffer());
        assert!(
            screen.contains("Den nyeste besked."),
            "{width} columns:\n{screen}"
        );
        // The banner's last words are drawn (it is not cut off), each line
        // of it above the conversation's frame.
        assert!(
            screen.contains("general answers"),
            "{width} columns:\n{screen}"
        );
        let frame_top = screen
            .lines()
            .position(|l| l.contains("┌ Familieplejen"))
            .unwrap();
        let lines: Vec<&str> = screen.lines().collect();
        let last_banner = lines
            .iter()
            .rposition(|l| l.contains("give general") || l.ends_with("only"))
            .unwrap();
        assert!(last_banner < frame_top, "{width} columns:\n{screen}");
    }
}
