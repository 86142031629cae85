//! `tablero top` (SPEC §6): the home page's cards in the terminal — every KPI's latest
//! complete value, target, status and change from the period before, grouped by owner, in the
//! workspace's language and number format. On a terminal it is a live board (ratatui): ← → move
//! between owners, ↑ ↓ between KPIs, Enter opens a KPI's periods, Esc goes back, r recomputes
//! (and every minute), q quits. Piped, or with `--once`, it prints the cards once.

use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState, Tabs};
use tablero_engine::{Engine, Request};
use tablero_model::display::{format_value, status_label};

use crate::{EXIT_INTERNAL, EXIT_USER, Failure};

/// One KPI's card, formatted.
struct Card {
    name: String,
    mark: &'static str,
    status: String,
    status_code: String,
    value: String,
    target: String,
    period: String,
    change: String,
    /// Its periods, newest first: (period, value, target, status).
    periods: Vec<[String; 4]>,
}

/// The cards by owner, in catalog order.
struct Board {
    owners: Vec<(String, Vec<Card>)>,
    computed: String,
}

async fn board(engine: &Engine, as_of: Option<jiff::Timestamp>) -> Result<Board, Failure> {
    let results = engine
        .compute(&Request {
            as_of,
            ..Request::default()
        })
        .await?;
    let workspace = engine.workspace();
    let settings = &workspace.settings;
    let mut owners: Vec<(String, Vec<Card>)> = Vec::new();
    for result in &results {
        let Some(kpi) = workspace.kpi(&result.kpi) else {
            continue;
        };
        let owner = kpi
            .owner
            .as_ref()
            .map(|o| o.value.clone())
            .unwrap_or_else(|| "—".into());
        let number = |v: Option<f64>| {
            v.map(|v| {
                format_value(
                    v,
                    kpi.unit,
                    kpi.decimals,
                    settings.locale,
                    &settings.currency,
                )
            })
            .unwrap_or_else(|| "—".into())
        };
        let judged = result.judged();
        let status = judged.status().as_str();
        let change = match judged.change.map(|c| c.delta) {
            Some(d) if d > 0.0 => format!("▲ +{}", number(Some(d))),
            Some(d) if d < 0.0 => format!("▼ {}", number(Some(d))),
            Some(_) => "=".to_string(),
            None => String::new(),
        };
        let card = Card {
            name: kpi.name.clone(),
            mark: match status {
                "on_track" => "●",
                "at_risk" => "◐",
                "off_track" => "○",
                _ => "·",
            },
            status: status_label(status, settings.locale).to_string(),
            status_code: status.to_string(),
            value: number(judged.value()),
            target: number(judged.target()),
            period: judged.label().to_string(),
            change,
            periods: result
                .values
                .iter()
                .rev()
                .map(|v| {
                    [
                        v.label.clone(),
                        number(v.value),
                        number(v.target),
                        status_label(v.status.as_str(), settings.locale).to_string(),
                    ]
                })
                .collect(),
        };
        match owners.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, cards)) => cards.push(card),
            None => owners.push((owner, vec![card])),
        }
    }
    let computed = as_of
        .unwrap_or_else(jiff::Timestamp::now)
        .to_zoned(engine.calendar().time_zone().clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    Ok(Board { owners, computed })
}

pub async fn top(root: &Path, as_of: Option<String>, once: bool) -> Result<(), Failure> {
    let (engine, _) = tablero_engine::open(root)?;
    let as_of = match as_of {
        Some(text) => Some(engine.calendar().parse_as_of(&text).map_err(|e| Failure {
            code: EXIT_USER,
            message: format!("--as-of: {e}"),
        })?),
        None => None,
    };
    let board = board(&engine, as_of).await?;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if once || !terminal {
        print(&board);
        return Ok(());
    }
    live(&engine, as_of, board).await.map_err(|e| Failure {
        code: EXIT_INTERNAL,
        message: format!("the terminal: {e}"),
    })
}

fn print(board: &Board) {
    let width = board
        .owners
        .iter()
        .flat_map(|(_, cards)| cards.iter().map(|c| c.name.chars().count()))
        .max()
        .unwrap_or(10);
    for (owner, cards) in &board.owners {
        out!("{owner}");
        for c in cards {
            out!(
                "  {} {:width$}  {:>18}  / {:>18}  {:<14} {}  {}",
                c.mark,
                c.name,
                c.value,
                c.target,
                c.status,
                c.period,
                c.change
            );
        }
    }
}

/// How often the live board recomputes by itself.
const REFRESH: Duration = Duration::from_secs(60);

fn status_style(code: &str) -> Style {
    match code {
        "on_track" => Style::default().fg(Color::Green),
        "at_risk" => Style::default().fg(Color::Yellow),
        "off_track" => Style::default().fg(Color::Red),
        _ => Style::default(),
    }
}

async fn live(
    engine: &Engine,
    as_of: Option<jiff::Timestamp>,
    mut board: Board,
) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let mut owner = 0usize;
    let mut table = TableState::default().with_selected(Some(0));
    let mut open: Option<usize> = None;
    let mut computed_at = Instant::now();
    let result = loop {
        let drawn = terminal.draw(|frame| {
            let [head, body, foot] = Layout::vertical([
                Constraint::Length(3),
                Constraint::Min(3),
                Constraint::Length(1),
            ])
            .areas(frame.area());
            let titles: Vec<String> = board.owners.iter().map(|(o, _)| o.clone()).collect();
            frame.render_widget(
                Tabs::new(titles)
                    .select(owner)
                    .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
                    .block(
                        Block::default()
                            .borders(Borders::ALL)
                            .title(format!(" Tablero · {} ", board.computed)),
                    ),
                head,
            );
            let cards = board
                .owners
                .get(owner)
                .map(|(_, c)| c.as_slice())
                .unwrap_or(&[]);
            match open.and_then(|i| cards.get(i)) {
                Some(card) => {
                    let rows = card.periods.iter().map(|p| Row::new(p.to_vec()));
                    frame.render_widget(
                        Table::new(
                            rows,
                            [
                                Constraint::Length(12),
                                Constraint::Length(20),
                                Constraint::Length(20),
                                Constraint::Min(14),
                            ],
                        )
                        .header(
                            Row::new(["Period", "Value", "Target", "Status"])
                                .style(Style::default().add_modifier(Modifier::BOLD)),
                        )
                        .block(
                            Block::default()
                                .borders(Borders::ALL)
                                .title(format!(" {} ", card.name)),
                        ),
                        body,
                    );
                }
                None => {
                    let rows = cards.iter().map(|c| {
                        Row::new([
                            format!("{} {}", c.mark, c.name),
                            c.value.clone(),
                            c.target.clone(),
                            c.status.clone(),
                            c.period.clone(),
                            c.change.clone(),
                        ])
                        .style(status_style(&c.status_code))
                    });
                    frame.render_stateful_widget(
                        Table::new(
                            rows,
                            [
                                Constraint::Min(30),
                                Constraint::Length(18),
                                Constraint::Length(18),
                                Constraint::Length(14),
                                Constraint::Length(9),
                                Constraint::Length(18),
                            ],
                        )
                        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
                        .block(Block::default().borders(Borders::ALL)),
                        body,
                        &mut table,
                    );
                }
            }
            frame.render_widget(
                Paragraph::new(Line::from(
                    "← → owner · ↑ ↓ KPI · Enter periods · Esc back · r recompute · q quit",
                )),
                foot,
            );
        });
        if let Err(e) = drawn {
            break Err(e);
        }
        if computed_at.elapsed() >= REFRESH {
            if let Ok(fresh) = self::board(engine, as_of).await {
                board = fresh;
            }
            computed_at = Instant::now();
        }
        let ready = match event::poll(Duration::from_millis(250)) {
            Ok(ready) => ready,
            Err(e) => break Err(e),
        };
        if !ready {
            continue;
        }
        let Ok(Event::Key(key)) = event::read() else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        let count = board.owners.get(owner).map(|(_, c)| c.len()).unwrap_or(0);
        match key.code {
            KeyCode::Char('q') => break Ok(()),
            KeyCode::Esc if open.is_none() => break Ok(()),
            KeyCode::Esc | KeyCode::Backspace => open = None,
            KeyCode::Right | KeyCode::Tab if open.is_none() => {
                owner = (owner + 1) % board.owners.len().max(1);
                table.select(Some(0));
            }
            KeyCode::Left | KeyCode::BackTab if open.is_none() => {
                owner = (owner + board.owners.len().max(1) - 1) % board.owners.len().max(1);
                table.select(Some(0));
            }
            KeyCode::Down if open.is_none() && count > 0 => {
                table.select(Some((table.selected().unwrap_or(0) + 1).min(count - 1)));
            }
            KeyCode::Up if open.is_none() => {
                table.select(Some(table.selected().unwrap_or(0).saturating_sub(1)));
            }
            KeyCode::Enter if open.is_none() && count > 0 => open = table.selected(),
            KeyCode::Char('r') => {
                if let Ok(fresh) = self::board(engine, as_of).await {
                    board = fresh;
                }
                computed_at = Instant::now();
            }
            _ => {}
        }
    };
    ratatui::restore();
    result
}
