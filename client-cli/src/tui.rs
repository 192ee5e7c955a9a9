//! `samtale chat`: the terminal UI. A view over the same [`Session`] the
//! plain commands use: [`ChatModel`] holds what is shown, [`draw`] renders
//! it (tested with ratatui's test backend), and [`run`] connects the model
//! to the keyboard and the live connection (reconnecting and catching up
//! after a drop).

use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style as TuiStyle};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use samtale_protocol::minimise::Minimiser;
use samtale_protocol::wire::{AssuranceLevel, ServerFrame};
use time::UtcOffset;

use crate::client::{Badge, Banner, ClientError, Session, ShownMessage, ThreadRow, ThreadView};
use crate::output::format_time;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The thread list.
    Threads,
    /// The message being written.
    Compose,
}

/// Everything the chat screen shows.
#[derive(Debug, Clone)]
pub struct ChatModel {
    /// "Mette Jensen · Randers Kommune".
    pub title: String,
    /// Whether the user is staff (minimisation hints, banners).
    pub staff: bool,
    /// The thread list.
    pub threads: Vec<ThreadRow>,
    /// The selected thread in the list.
    pub selected: usize,
    /// The open thread.
    pub view: Option<ThreadView>,
    /// Lines scrolled up from the newest message.
    pub scroll: u16,
    /// The message being written.
    pub input: String,
    /// Which pane has the keyboard.
    pub focus: Focus,
    /// The status line ("connected", "reconnecting…", an error).
    pub status: String,
    /// Whether the key help is open.
    pub help: bool,
    /// The local time zone.
    pub offset: UtcOffset,
    /// Staff pressed Enter on a text with minimisation findings once: the
    /// next Enter on the same text sends it anyway (as `send --force`).
    pub confirm: bool,
    /// The writer's own contact details, which are not reported.
    pub own_contacts: Vec<String>,
}

/// Why a staff message with findings is held, in `samtale send` and in
/// the chat alike.
pub const HELD: &str = "the message contains personal data; rewrite it, or send it anyway (it stays encrypted, but minimise what you write)";

impl ChatModel {
    /// An empty model.
    pub fn new(title: String, staff: bool, offset: UtcOffset) -> Self {
        Self {
            title,
            staff,
            threads: Vec::new(),
            selected: 0,
            view: None,
            scroll: 0,
            input: String::new(),
            focus: Focus::Threads,
            status: String::new(),
            help: false,
            offset,
            confirm: false,
            own_contacts: Vec::new(),
        }
    }

    /// Minimisation hints for the text being written: national ids,
    /// contact details, and the thread's citizens' full names with a
    /// school, an address or health details.
    pub fn hints(&self) -> Vec<String> {
        if !self.staff || self.input.trim().is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = self
            .view
            .as_ref()
            .map(|v| v.row.participants.iter().map(|p| p.name.as_str()).collect())
            .unwrap_or_default();
        minimisation_warnings(&self.input, &names, &self.own_contacts)
    }
}

/// The minimisation findings in a staff member's text, one line per kind:
/// "CPR number \"010203-1234\": a Danish CPR number must never …". The
/// thread's citizens (full names) are the people it knows; the writer's
/// own contact details are not reported. `samtale send` and the chat use
/// the same rule and words.
pub fn minimisation_warnings(text: &str, people: &[&str], own_contacts: &[String]) -> Vec<String> {
    let mut m = Minimiser::new();
    for contact in own_contacts {
        m = m.with_own_contact(contact);
    }
    for name in people {
        m = m.with_name(name);
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for f in m.scan(text) {
        if seen.contains(&f.category) {
            continue;
        }
        seen.push(f.category);
        out.push(format!(
            "{} \"{}\": {}",
            f.category.label(),
            &text[f.span.clone()],
            f.category.explanation()
        ));
    }
    out
}

fn sender_spans(m: &ShownMessage) -> Vec<Span<'static>> {
    match &m.sender {
        None if matches!(m.body, crate::client::Body::Unreadable { .. }) => vec![Span::styled(
            "(not readable here yet)",
            TuiStyle::default().fg(Color::DarkGray),
        )],
        None => vec![Span::styled(
            "⚠ unverified sender",
            TuiStyle::default()
                .fg(Color::Red)
                .add_modifier(Modifier::BOLD),
        )],
        Some(s) => {
            let mut spans = vec![Span::styled(
                s.name.clone(),
                TuiStyle::default().add_modifier(Modifier::BOLD),
            )];
            if let Some(team) = &s.team {
                spans.push(Span::raw(format!(" · {team}")));
            }
            match &s.badge {
                Badge::Certified => spans.push(Span::styled(
                    " ✔ verified",
                    TuiStyle::default().fg(Color::Green),
                )),
                Badge::Citizen { assurance } => {
                    let color = if *assurance == AssuranceLevel::Unverified {
                        Color::Yellow
                    } else {
                        Color::Green
                    };
                    spans.push(Span::styled(
                        format!(" ({})", crate::output::assurance_words(*assurance)),
                        TuiStyle::default().fg(color),
                    ));
                }
            }
            spans
        }
    }
}

fn message_lines(m: &ShownMessage, thread: &str, offset: UtcOffset) -> Vec<Line<'static>> {
    let mut head = vec![Span::styled(
        format!("{} ", format_time(m.at_ms, offset)),
        TuiStyle::default().fg(Color::DarkGray),
    )];
    head.extend(sender_spans(m));
    if m.sender.as_ref().is_some_and(|s| s.me) {
        let mark = if m.read {
            " ✓✓ read"
        } else if m.delivered {
            " ✓ delivered"
        } else {
            " · sent"
        };
        head.push(Span::styled(mark, TuiStyle::default().fg(Color::DarkGray)));
    }
    if m.not_journaled {
        head.push(Span::styled(
            " · not yet journaled",
            TuiStyle::default().fg(Color::Blue),
        ));
    }
    let mut lines = vec![Line::from(head)];
    match &m.body {
        crate::client::Body::Ok { text, attachments } => {
            for l in text.lines() {
                lines.push(Line::from(format!("  {l}")));
            }
            for a in attachments {
                lines.push(Line::from(Span::styled(
                    format!(
                        "  📎 {} ({} bytes) — samtale download {thread} {} {}",
                        a.name, a.size, m.seq, a.index
                    ),
                    TuiStyle::default().fg(Color::Cyan),
                )));
            }
        }
        crate::client::Body::Failed { reason } => {
            lines.push(Line::from(Span::styled(
                format!("  ⚠ not shown: {reason}"),
                TuiStyle::default().fg(Color::Red),
            )));
        }
        crate::client::Body::Unreadable { reason } => {
            lines.push(Line::from(Span::styled(
                format!("  … {reason}"),
                TuiStyle::default().fg(Color::DarkGray),
            )));
        }
    }
    lines.push(Line::from(""));
    lines
}

const HELP: &[(&str, &str)] = &[
    ("↑/↓", "choose a thread"),
    ("Enter", "open the thread / send the message"),
    ("Tab", "switch between the thread list and writing"),
    ("PgUp/PgDn", "scroll the conversation"),
    ("Esc", "back to the thread list"),
    ("F1", "this help"),
    ("Ctrl-C, q", "quit (q in the thread list)"),
];

/// Renders the whole screen.
pub fn draw(frame: &mut Frame, model: &ChatModel) {
    let area = frame.area();
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(5), Constraint::Length(1)])
        .split(area);
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(38), Constraint::Percentage(62)])
        .split(rows[0]);
    draw_threads(frame, model, cols[0]);
    draw_conversation(frame, model, cols[1]);
    let status = Line::from(vec![
        Span::styled(
            format!(" {} ", model.title),
            TuiStyle::default().add_modifier(Modifier::REVERSED),
        ),
        Span::raw(format!(" {}  ", model.status)),
        Span::styled(
            "F1 help · Tab switch · Enter send · Ctrl-C quit",
            TuiStyle::default().fg(Color::DarkGray),
        ),
    ]);
    frame.render_widget(Paragraph::new(status), rows[1]);
    if model.help {
        let w = 60.min(area.width);
        let h = (HELP.len() as u16 + 2).min(area.height);
        let popup = Rect {
            x: area.x + (area.width - w) / 2,
            y: area.y + (area.height - h) / 2,
            width: w,
            height: h,
        };
        let lines: Vec<Line> = HELP
            .iter()
            .map(|(k, v)| {
                Line::from(vec![
                    Span::styled(
                        format!("{k:<12}"),
                        TuiStyle::default().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(*v),
                ])
            })
            .collect();
        frame.render_widget(Clear, popup);
        frame.render_widget(
            Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Keys ")),
            popup,
        );
    }
}

fn draw_threads(frame: &mut Frame, model: &ChatModel, area: Rect) {
    let items: Vec<ListItem> = model
        .threads
        .iter()
        .map(|t| {
            let names: Vec<String> = t
                .participants
                .iter()
                .map(|p| {
                    if p.assurance == AssuranceLevel::Unverified && !p.me {
                        format!("{} (unverified)", p.name)
                    } else {
                        p.shown_name().to_owned()
                    }
                })
                .collect();
            let first = Line::from(Span::raw(names.join(", ")));
            let mut second = vec![Span::raw("  ")];
            if t.unread > 0 {
                second.push(Span::styled(
                    format!("{} new · ", t.unread),
                    TuiStyle::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            let filed = if t.journaled_up_to.is_some() {
                " · filed"
            } else {
                ""
            };
            second.push(Span::styled(
                format!(
                    "{} · {}{filed}",
                    t.team,
                    format_time(t.last_activity_ms, model.offset)
                ),
                TuiStyle::default().fg(Color::DarkGray),
            ));
            ListItem::new(vec![first, Line::from(second)])
        })
        .collect();
    let border = if model.focus == Focus::Threads {
        TuiStyle::default().fg(Color::Cyan)
    } else {
        TuiStyle::default()
    };
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(" Threads "),
        )
        .highlight_style(TuiStyle::default().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default();
    if !model.threads.is_empty() {
        state.select(Some(model.selected.min(model.threads.len() - 1)));
    }
    frame.render_stateful_widget(list, area, &mut state);
}

fn draw_conversation(frame: &mut Frame, model: &ChatModel, area: Rect) {
    let Some(view) = &model.view else {
        let text = if model.threads.is_empty() {
            "No threads yet."
        } else {
            "Choose a thread and press Enter."
        };
        frame.render_widget(
            Paragraph::new(text).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Conversation "),
            ),
            area,
        );
        return;
    };
    let banners: Vec<Line> = view
        .banners
        .iter()
        .map(|b| {
            let color = match b {
                Banner::ConsentWithdrawn { .. }
                | Banner::OwnConsentWithdrawn
                | Banner::DevicesReset { .. } => Color::Red,
                Banner::Unverified { .. }
                | Banner::DevicesChanged { .. }
                | Banner::AccountGone { .. } => Color::Yellow,
                Banner::Journaled { .. } => Color::Blue,
            };
            Line::from(Span::styled(
                format!("⚠ {}", b.text()),
                TuiStyle::default().fg(color).add_modifier(Modifier::BOLD),
            ))
        })
        .collect();
    let hints = model.hints();
    // Heights as the text wraps at this width (word by word, as drawn), so
    // a long banner or hint stays inside its area at any terminal width.
    let banners = Paragraph::new(banners).wrap(Wrap { trim: false });
    let banner_height = u16::try_from(banners.line_count(area.width))
        .unwrap_or(u16::MAX)
        .min(area.height / 3);
    let mut compose = vec![Line::from(format!("{}▏", model.input))];
    for h in &hints {
        compose.push(Line::from(Span::styled(
            format!("⚠ {h}"),
            TuiStyle::default().fg(Color::Yellow),
        )));
    }
    let compose = Paragraph::new(compose).wrap(Wrap { trim: false });
    let compose_height = u16::try_from(compose.line_count(area.width.saturating_sub(2)))
        .unwrap_or(u16::MAX)
        .saturating_add(2)
        .clamp(3, (area.height / 3).max(3));
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(banner_height),
            Constraint::Min(3),
            Constraint::Length(compose_height),
        ])
        .split(area);
    frame.render_widget(banners, parts[0]);

    let short: String = view.row.thread_id.to_string().chars().take(8).collect();
    let lines: Vec<Line> = view
        .messages
        .iter()
        .flat_map(|m| message_lines(m, &short, model.offset))
        .collect();
    let names: Vec<String> = view
        .row
        .participants
        .iter()
        .map(|p| p.shown_name().to_owned())
        .collect();
    let title = format!(" {} — {} ", view.row.team, names.join(", "));
    let inner_height = parts[1].height.saturating_sub(2);
    // Rows as drawn: a long message wraps over several, so counting lines
    // would leave the newest messages below the bottom edge.
    let messages = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total =
        u16::try_from(messages.line_count(parts[1].width.saturating_sub(2))).unwrap_or(u16::MAX);
    let bottom = total.saturating_sub(inner_height);
    let scroll = bottom.saturating_sub(model.scroll);
    frame.render_widget(
        messages
            .block(Block::default().borders(Borders::ALL).title(title))
            .scroll((scroll, 0)),
        parts[1],
    );

    let border = if model.focus == Focus::Compose {
        TuiStyle::default().fg(Color::Cyan)
    } else {
        TuiStyle::default()
    };
    frame.render_widget(
        compose.block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(" Write (Enter sends) "),
        ),
        parts[2],
    );
}

/// What a key press asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Open the selected thread.
    Open,
    /// Send the input.
    Send,
    /// Leave.
    Quit,
}

/// Applies a key press to the model.
pub fn on_key(model: &mut ChatModel, key: KeyEvent) -> Action {
    if key.kind != KeyEventKind::Press {
        return Action::None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('c' | 'q'))
    {
        return Action::Quit;
    }
    if model.help {
        model.help = false;
        return Action::None;
    }
    match (model.focus, key.code) {
        (_, KeyCode::F(1)) => model.help = true,
        (_, KeyCode::Tab) => {
            model.focus = match model.focus {
                Focus::Threads if model.view.is_some() => Focus::Compose,
                _ => Focus::Threads,
            }
        }
        (_, KeyCode::PageUp) => model.scroll = model.scroll.saturating_add(5),
        (_, KeyCode::PageDown) => model.scroll = model.scroll.saturating_sub(5),
        (Focus::Threads, KeyCode::Char('q')) => return Action::Quit,
        (Focus::Threads, KeyCode::Up) => model.selected = model.selected.saturating_sub(1),
        (Focus::Threads, KeyCode::Down) if model.selected + 1 < model.threads.len() => {
            model.selected += 1;
        }
        (Focus::Threads, KeyCode::Enter) if !model.threads.is_empty() => {
            model.focus = Focus::Compose;
            return Action::Open;
        }
        (Focus::Compose, KeyCode::Esc) => model.focus = Focus::Threads,
        (Focus::Compose, KeyCode::Enter) if !model.input.trim().is_empty() => {
            // Held like `samtale send` holds it: the first Enter says why,
            // a second one on the unchanged text sends it anyway.
            if model.confirm || model.hints().is_empty() {
                model.confirm = false;
                return Action::Send;
            }
            model.confirm = true;
            model.status = format!("{HELD}: press Enter again to send it anyway, or change it");
        }
        (Focus::Compose, KeyCode::Backspace) => {
            model.input.pop();
            model.confirm = false;
        }
        (Focus::Compose, KeyCode::Char(c)) => {
            model.input.push(c);
            model.confirm = false;
        }
        _ => {}
    }
    Action::None
}

/// Restores the terminal when dropped (also on errors and panics).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::LeaveAlternateScreen);
    }
}

async fn reload(session: &mut Session, model: &mut ChatModel) -> Result<(), ClientError> {
    model.threads = session.thread_rows().await?;
    if let Some(view) = &model.view {
        let id = view.row.thread_id;
        // A conversation that is gone (a citizen's erasure, retention of
        // the whole thread) closes, and no stale error stays on screen.
        let Some(pos) = model.threads.iter().position(|t| t.thread_id == id) else {
            model.view = None;
            model.focus = Focus::Threads;
            model.selected = model.selected.min(model.threads.len().saturating_sub(1));
            model.status = "that conversation was deleted (erasure or retention)".into();
            return Ok(());
        };
        model.view = Some(session.thread_view(id, &|_| {}).await?);
        model.selected = pos;
    }
    model.selected = model.selected.min(model.threads.len().saturating_sub(1));
    Ok(())
}

/// After a failed action: reloads, so a conversation that was deleted
/// meanwhile closes instead of leaving its error on screen.
async fn after_failure(session: &mut Session, model: &mut ChatModel, error: &ClientError) {
    model.status = error.to_string();
    let _ = reload(session, model).await;
}

/// Runs the chat on the terminal until the user quits.
pub async fn run(
    session: &mut Session,
    open: Option<samtale_protocol::ThreadId>,
    offset: UtcOffset,
) -> anyhow::Result<()> {
    // Keyboard events come from a blocking thread.
    let (keys_tx, keys) = tokio::sync::mpsc::channel::<Event>(64);
    std::thread::spawn(move || {
        while let Ok(ev) = event::read() {
            if keys_tx.blocking_send(ev).is_err() {
                break;
            }
        }
    });
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    let _guard = TerminalGuard;
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    run_loop(session, &mut terminal, keys, open, offset, None).await
}

/// The screen's text (one line per row, trailing spaces trimmed).
pub fn screen_text(buffer: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The chat's event loop on any backend, with keys from `keys`; each drawn
/// screen is also published on `screens` when given (for tests).
pub async fn run_loop<B: ratatui::backend::Backend>(
    session: &mut Session,
    terminal: &mut ratatui::Terminal<B>,
    mut keys: tokio::sync::mpsc::Receiver<Event>,
    open: Option<samtale_protocol::ThreadId>,
    offset: UtcOffset,
    screens: Option<tokio::sync::watch::Sender<String>>,
) -> anyhow::Result<()> {
    let title = format!(
        "{} · {}",
        session.config.display_name, session.config.org_name
    );
    let mut model = ChatModel::new(title, session.is_staff(), offset);
    model.own_contacts = session.config.own_contacts.clone();
    session.upkeep(false).await?;
    model.threads = session.thread_rows().await?;
    if let Some(id) = open {
        model.selected = model
            .threads
            .iter()
            .position(|t| t.thread_id == id)
            .unwrap_or(0);
        model.view = Some(session.thread_view(id, &|_| {}).await?);
        model.focus = Focus::Compose;
    }

    let mut relay: Option<crate::relay::Relay> = None;
    let mut backoff = Duration::from_millis(500);
    let mut retry_at = tokio::time::Instant::now();
    // What was last marked read, so a key press costs no file or network I/O.
    let mut marked: Option<(samtale_protocol::ThreadId, u64)> = None;
    loop {
        if let Some(view) = &model.view
            && let Some(last) = view.messages.last()
            && marked != Some((view.row.thread_id, last.seq))
        {
            let id = view.row.thread_id;
            if session
                .mark_read(id, last.seq, relay.as_mut())
                .await
                .is_ok()
            {
                marked = Some((id, last.seq));
            }
            if let Some(t) = model.threads.iter_mut().find(|t| t.thread_id == id) {
                t.unread = 0;
            }
        }
        let drawn = terminal.draw(|f| draw(f, &model))?;
        if let Some(tx) = &screens {
            tx.send_replace(screen_text(drawn.buffer));
        }
        if relay.is_none() && tokio::time::Instant::now() >= retry_at {
            match session.relay().await {
                Ok(mut r) => {
                    backoff = Duration::from_millis(500);
                    model.status = "connected".into();
                    // Catch up on what arrived while disconnected, then
                    // subscribe to each thread from where the view is; the
                    // server sends anything newer, then live traffic.
                    if let Err(e) = reload(session, &mut model).await {
                        model.status = e.to_string();
                    }
                    for t in &model.threads {
                        if r.sync(t.thread_id, t.messages).await.is_err() {
                            break;
                        }
                    }
                    relay = Some(r);
                    continue;
                }
                Err(ClientError::SessionEnded(m)) => {
                    return Err(ClientError::SessionEnded(m).into());
                }
                Err(e) => {
                    model.status =
                        format!("offline ({e}); retrying in {} s", backoff.as_secs().max(1));
                    retry_at = tokio::time::Instant::now() + jittered(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        let frame = async {
            match relay.as_mut() {
                Some(r) => Some(r.recv(Duration::from_secs(3600)).await),
                None => {
                    tokio::time::sleep_until(retry_at).await;
                    None
                }
            }
        };
        tokio::select! {
            key = keys.recv() => {
                let key = match key {
                    Some(Event::Key(key)) => key,
                    Some(_) => continue,
                    // The keyboard is gone: nothing more can happen.
                    None => break,
                };
                match on_key(&mut model, key) {
                    Action::Quit => break,
                    Action::Open => {
                        if let Some(t) = model.threads.get(model.selected) {
                            let id = t.thread_id;
                            model.scroll = 0;
                            match session.thread_view(id, &|_| {}).await {
                                Ok(v) => model.view = Some(v),
                                Err(e) => after_failure(session, &mut model, &e).await,
                            }
                        }
                    }
                    Action::Send => {
                        if let Some(view) = &model.view {
                            let id = view.row.thread_id;
                            let text = std::mem::take(&mut model.input);
                            match session.send(id, &text, &[], relay.as_mut(), &|_| {}).await {
                                Ok((seq, _)) => {
                                    model.status = format!("sent (message {seq})");
                                    if let Err(e) = reload(session, &mut model).await {
                                        model.status = e.to_string();
                                    }
                                }
                                Err(ClientError::SessionEnded(m)) => {
                                    return Err(ClientError::SessionEnded(m).into());
                                }
                                Err(e) => {
                                    model.input = text;
                                    after_failure(session, &mut model, &e).await;
                                }
                            }
                        }
                    }
                    Action::None => {}
                }
            }
            frame = frame => {
                match frame {
                    Some(Ok(ServerFrame::Deliver { thread_id, seq, committed_at_ms, .. })) => {
                        let open = model.view.as_ref().map(|v| v.row.thread_id);
                        // This device has it: the sender sees "delivered".
                        if open != Some(thread_id)
                            && let Some(r) = relay.as_mut()
                        {
                            let _ = session.mark_delivered(thread_id, seq, r).await;
                        }
                        let known = model.threads.iter_mut().find(|t| t.thread_id == thread_id);
                        let result = match known {
                            // Another thread: its row's counters are enough.
                            Some(row) if open != Some(thread_id) => {
                                if seq > row.messages {
                                    row.unread += seq - row.messages;
                                    row.messages = seq;
                                    row.last_activity_ms = committed_at_ms;
                                }
                                // Newest first, keeping the selection on its thread.
                                let selected = model.threads.get(model.selected).map(|t| t.thread_id);
                                model.threads.sort_by_key(|t| std::cmp::Reverse(t.last_activity_ms));
                                if let Some(pos) = model.threads.iter().position(|t| Some(t.thread_id) == selected) {
                                    model.selected = pos;
                                }
                                Ok(())
                            }
                            // The open thread, or a new one: load it.
                            _ => reload(session, &mut model).await,
                        };
                        if let Err(e) = result {
                            model.status = e.to_string();
                        }
                    }
                    Some(Ok(ServerFrame::Receipt { .. })) => {
                        if let Some(id) = model.view.as_ref().map(|v| v.row.thread_id) {
                            match session.thread_view(id, &|_| {}).await {
                                Ok(v) => model.view = Some(v),
                                Err(e) => model.status = e.to_string(),
                            }
                        }
                    }
                    Some(Ok(_)) | None => {}
                    Some(Err(e)) => {
                        relay = None;
                        model.status = format!("connection lost ({e}); reconnecting");
                        // Jittered: when a node dies, its clients do not all
                        // come back at the same instant.
                        retry_at = tokio::time::Instant::now() + jittered(backoff);
                    }
                }
            }
        }
    }
    if let Some(r) = relay {
        r.close().await;
    }
    Ok(())
}

/// Somewhere between half of `backoff` and all of it ("equal jitter"), so
/// that the clients of a node that went away spread their reconnects.
fn jittered(backoff: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    let spread = u64::try_from(backoff.as_millis() / 2)
        .unwrap_or(u64::MAX)
        .max(1);
    let random = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) % spread,
        Err(_) => 0,
    };
    backoff / 2 + Duration::from_millis(random)
}

#[cfg(test)]
mod jitter_tests {
    use super::*;

    #[test]
    fn reconnects_spread_over_the_second_half_of_the_backoff() {
        let backoff = Duration::from_millis(800);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(backoff)).collect();
        assert!(waits.iter().all(|w| *w >= backoff / 2 && *w < backoff));
        // Not all the same: the clients of a dead node do not reconnect
        // in lockstep.
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 50, "{} distinct waits", distinct.len());
    }
}
