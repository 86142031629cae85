//! Typed definitions of a workspace: settings, sources with their measures, and KPIs.
//!
//! Every value written by a user keeps its [`Text`] position, so later layers (the formula
//! checker, the engine) can point at the exact line and column of a problem.

use std::path::PathBuf;

use tablero_calendar::Grain;

use crate::diagnostic::Location;

/// A string written in a workspace file, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub value: String,
    pub location: Location,
    /// Characters between the location and the first character of `value` (1 for a quoted
    /// scalar), or `None` when columns inside the value cannot be mapped (block scalars).
    pub inner_offset: Option<usize>,
}

impl Text {
    /// A text with no inner mapping, for values made by Tablero itself (e.g. `--where`).
    pub fn synthetic(value: impl Into<String>, location: Location) -> Text {
        Text {
            value: value.into(),
            location,
            inner_offset: Some(0),
        }
    }

    /// The location of the byte `offset` inside the value.
    pub fn location_at(&self, offset: usize) -> Location {
        let mut location = self.location.clone();
        if let Some(inner) = self.inner_offset {
            let offset = offset.min(self.value.len());
            let prefix = self.value.get(..offset).unwrap_or(&self.value);
            match prefix.rfind('\n') {
                Some(newline) => {
                    location.line += prefix.matches('\n').count();
                    location.column = prefix[newline + 1..].chars().count() + 1;
                }
                None => location.column += inner + prefix.chars().count(),
            }
        }
        location
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Es,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Es => "es",
            Locale::En => "en",
        }
    }
}

/// `tablero.toml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub locale: Locale,
    pub timezone: String,
    pub currency: String,
    pub fiscal_year_start: u8,
    /// `state`: where Tablero keeps what it writes itself (SPEC §14); `None` is
    /// `data/tablero.db`.
    pub state: Option<String>,
    /// `public_url`: where links in alerts point (e.g. `https://kpis.acme.cl`).
    pub public_url: Option<String>,
    /// `alerts_every`: minutes between alert evaluations inside `serve`.
    pub alerts_every: u32,
    pub smtp: Option<Smtp>,
    /// `[connections.NAME]`: external databases, by name.
    pub connections: Vec<Connection>,
    /// `engine = "ballista://HOST:PORT"`: the scheduler of the cluster that computes file and
    /// store sources (SPEC §9), as `HOST:PORT`; `None` is the embedded engine.
    pub cluster: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            name: "tablero".into(),
            locale: Locale::En,
            timezone: "UTC".into(),
            currency: "USD".into(),
            fiscal_year_start: 1,
            state: None,
            public_url: None,
            alerts_every: 15,
            smtp: None,
            connections: Vec::new(),
            cluster: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Integer,
    Number,
    Boolean,
    Date,
    Timestamp,
}

impl ColumnType {
    pub fn parse(s: &str) -> Option<ColumnType> {
        Some(match s {
            "string" => ColumnType::String,
            "integer" => ColumnType::Integer,
            "number" => ColumnType::Number,
            "boolean" => ColumnType::Boolean,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Integer => "integer",
            ColumnType::Number => "number",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
        }
    }

    pub fn is_temporal(self) -> bool {
        matches!(self, ColumnType::Date | ColumnType::Timestamp)
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::Number)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    /// strftime format of a date or timestamp column, for CSV files.
    pub format: Option<String>,
    pub location: Location,
}

/// Where a source's rows live.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceData {
    /// A CSV or Parquet file, relative to the workspace root.
    File(PathBuf),
    /// Rows ingested into Tablero's store.
    Store,
    /// A table in an external database (`connection` + `table`, SPEC §9): its aggregations
    /// run inside that database.
    Table {
        /// The name of a `[connections.NAME]` of `tablero.toml`.
        connection: Text,
        table: TableName,
    },
}

/// A database table as `table:` names it: `name` or `schema.name`, each part a plain name
/// (folded to lower case, as the database does) or a double-quoted one kept exactly
/// (`"Ventas 2026"."Facturas"`, `""` for a quote inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    /// Reads `table:`; `None` when it is empty, has more than two parts or an open quote.
    pub fn parse(text: &str) -> Option<TableName> {
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut chars = text.trim().chars().peekable();
        let mut quoted_part = false;
        while let Some(c) = chars.next() {
            match c {
                '"' if current.is_empty() && !quoted_part => {
                    quoted_part = true;
                    loop {
                        match chars.next()? {
                            '"' if chars.peek() == Some(&'"') => {
                                chars.next();
                                current.push('"');
                            }
                            '"' => break,
                            other => current.push(other),
                        }
                    }
                    if current.is_empty() {
                        return None;
                    }
                }
                '.' => {
                    if current.is_empty() {
                        return None;
                    }
                    parts.push(fold(std::mem::take(&mut current), quoted_part));
                    quoted_part = false;
                }
                c if quoted_part => {
                    let _ = c;
                    return None;
                }
                c => current.push(c),
            }
        }
        if current.is_empty() {
            return None;
        }
        parts.push(fold(current, quoted_part));
        match parts.len() {
            1 => Some(TableName {
                schema: None,
                name: parts.remove(0),
            }),
            2 => Some(TableName {
                name: parts.remove(1),
                schema: Some(parts.remove(0)),
            }),
            _ => None,
        }
    }
}

/// An unquoted part of a table name as the database reads it: in lower case.
fn fold(part: String, quoted: bool) -> String {
    if quoted { part } else { part.to_lowercase() }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let quote = |s: &str| {
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                s.to_string()
            } else {
                format!("\"{}\"", s.replace('"', "\"\""))
            }
        };
        if let Some(schema) = &self.schema {
            write!(f, "{}.", quote(schema))?;
        }
        write!(f, "{}", quote(&self.name))
    }
}

/// `[connections.NAME]` of `tablero.toml`: an external database whose tables sources read
/// (SPEC §9). The password is never in the file: it comes from
/// `TABLERO_CONN_<NAME>_PASSWORD`.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: String,
    /// `postgres://user@host:port/database`, without a password.
    pub url: String,
    pub tls: ConnectionTls,
    /// Most connections open at once.
    pub pool: u32,
    /// Longest a statement may run in the database, in seconds.
    pub statement_timeout: u32,
}

impl Connection {
    /// The environment variable holding the password: `TABLERO_CONN_WAREHOUSE_PASSWORD`.
    pub fn password_variable(&self) -> String {
        let upper: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("TABLERO_CONN_{upper}_PASSWORD")
    }
}

/// How a connection uses TLS: `disable`, `prefer` (the default), `require` (encrypted,
/// certificate not checked), `verify-full` (the server's certificate and name checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionTls {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub decimal: char,
}

impl Default for CsvOptions {
    fn default() -> CsvOptions {
        CsvOptions {
            delimiter: b',',
            decimal: '.',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveAt {
    Start,
    End,
    Average,
}

/// A measure's aggregation (SPEC §2).
#[derive(Debug, Clone, PartialEq)]
pub enum Agg {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Median,
    /// Continuous percentile, `p` in 0..=1.
    Percentile(f64),
    /// Semi-additive snapshot: the rows at the latest time point of the period. With `per`,
    /// each value of that column contributes its own latest snapshot.
    Last {
        per: Option<Text>,
    },
    /// Like `Last`, at the earliest time point.
    First {
        per: Option<Text>,
    },
    /// Rows whose interval `[start, end)` contains an instant.
    Active {
        start: Text,
        end: Text,
        at: ActiveAt,
    },
}

impl Agg {
    pub fn name(&self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::CountDistinct => "count_distinct",
            Agg::Sum => "sum",
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Median => "median",
            Agg::Percentile(_) => "percentile",
            Agg::Last { .. } => "last",
            Agg::First { .. } => "first",
            Agg::Active { .. } => "active",
        }
    }

    /// The value of the measure over no rows: 0 for counts and sums, null otherwise.
    pub fn empty_is_zero(&self) -> bool {
        matches!(
            self,
            Agg::Count | Agg::CountDistinct | Agg::Sum | Agg::Active { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub name: Text,
    pub agg: Agg,
    pub expr: Option<Text>,
    pub filter: Option<Text>,
    pub time: Option<Text>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: Text,
    pub label: Option<String>,
    pub data: SourceData,
    pub time: Option<Text>,
    pub columns: Vec<Column>,
    pub dimensions: Vec<Text>,
    pub csv: CsvOptions,
    pub measures: Vec<Measure>,
    /// `manual: true`: a store source whose rows editors enter in a form on the dashboard.
    pub manual: bool,
    /// `owner:` of a store or manual source: only that owner's editors (and admins) push its
    /// rows or enter its values. Without it, an editor must edit every owner of the KPIs
    /// that read the source (SPEC §13).
    pub owner: Option<Text>,
    /// The YAML file, relative to the workspace root.
    pub file: PathBuf,
}

impl Source {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name.value == name)
    }

    pub fn has_dimension(&self, name: &str) -> bool {
        self.dimensions.iter().any(|d| d.value == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Count,
    Currency,
    Days,
    Hours,
    Minutes,
    Ratio,
    Number,
}

impl Unit {
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "percent" => Unit::Percent,
            "count" => Unit::Count,
            "currency" => Unit::Currency,
            "days" => Unit::Days,
            "hours" => Unit::Hours,
            "minutes" => Unit::Minutes,
            "ratio" => Unit::Ratio,
            "number" => Unit::Number,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Percent => "percent",
            Unit::Count => "count",
            Unit::Currency => "currency",
            Unit::Days => "days",
            Unit::Hours => "hours",
            Unit::Minutes => "minutes",
            Unit::Ratio => "ratio",
            Unit::Number => "number",
        }
    }

    /// Counts and amounts add up over time: their targets sum to coarser grains and a partial
    /// period is judged against its pace.
    pub fn is_additive(self) -> bool {
        matches!(self, Unit::Count | Unit::Currency)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiKind {
    Leading,
    Lagging,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Constant(f64),
    /// A formula evaluated per period like the KPI itself.
    Formula(Text),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Absolute(f64),
    /// A share of the target, `0.9` for `"90%"`.
    OfTarget(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Kpi {
    pub id: Text,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<Text>,
    /// KPIs of one group (the stages of a funnel) read as one indicator in the SMART lint.
    pub group: Option<String>,
    pub tags: Vec<String>,
    pub kind: Option<KpiKind>,
    pub unit: Unit,
    pub decimals: u8,
    pub direction: Direction,
    pub grain: Option<Grain>,
    pub formula: Option<Text>,
    pub target: Option<Target>,
    /// Per-period overrides: a period label of any grain and its target.
    pub targets: Vec<(Text, f64)>,
    pub at_risk: Option<Threshold>,
    pub file: PathBuf,
    pub location: Location,
}

impl Kpi {
    /// The review grain, month when none is given.
    pub fn grain_or_default(&self) -> Grain {
        self.grain.unwrap_or(Grain::Month)
    }
}

/// A department's scorecard: which KPIs it shows, in order (`dashboards/*.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub id: String,
    pub title: String,
    pub grain: Option<Grain>,
    /// How many periods the scorecard shows (default 12).
    pub periods: Option<u32>,
    /// Every KPI of the dashboard, in order (those of its sections, when it has sections).
    pub kpis: Vec<Text>,
    /// `sections:` — titled groups of its KPIs, shown as such in the scorecard; empty when the
    /// dashboard lists `kpis:` directly.
    pub sections: Vec<Section>,
    pub file: PathBuf,
}

/// A titled group of a dashboard's KPIs.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub kpis: Vec<Text>,
}

/// A scheduled report (`reports/*.yaml`): a dashboard's scorecard e-mailed to people on a
/// schedule in the workspace's time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub id: Text,
    pub dashboard: Text,
    pub to: Vec<Text>,
    pub schedule: Schedule,
    /// The language of the e-mail; the workspace's when `None`.
    pub locale: Option<Locale>,
    pub file: PathBuf,
}

/// When a report goes out: `daily at 07:00`, `weekly on monday at 08:30`, `monthly on day 3 at
/// 09:00` (a day past the month's end means its last day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every: Every,
    pub hour: i8,
    pub minute: i8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Day,
    /// ISO weekday, Monday = 1.
    Week(i8),
    /// Day of the month, 1..=31.
    Month(i8),
}

impl Schedule {
    /// Parses `daily at HH:MM`, `weekly on WEEKDAY at HH:MM` (English or Spanish day names) or
    /// `monthly on day N at HH:MM`.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let lower = text.trim().to_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        let expected =
            "expected `daily at 07:00`, `weekly on monday at 08:30` or `monthly on day 3 at 09:00`";
        let (every, at) = match words.as_slice() {
            ["daily", "at", at] => (Every::Day, *at),
            ["weekly", "on", day, "at", at] => {
                let days = [
                    ["monday", "lunes"],
                    ["tuesday", "martes"],
                    ["wednesday", "miércoles"],
                    ["thursday", "jueves"],
                    ["friday", "viernes"],
                    ["saturday", "sábado"],
                    ["sunday", "domingo"],
                ];
                let Some(n) = days.iter().position(|names| names.contains(day)) else {
                    return Err(format!("`{day}` is not a day of the week; {expected}"));
                };
                (Every::Week(n as i8 + 1), *at)
            }
            ["monthly", "on", "day", n, "at", at] => match n.parse::<i8>() {
                Ok(d @ 1..=31) => (Every::Month(d), *at),
                _ => return Err(format!("`{n}` is not a day of the month (1 to 31)")),
            },
            _ => return Err(format!("`{}`: {expected}", text.trim())),
        };
        let time = at
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
            .filter(|(h, m)| (0..24).contains(h) && (0..60).contains(m) && at.len() == 5);
        let Some((hour, minute)) = time else {
            return Err(format!("`{at}` is not a time like 09:00"));
        };
        Ok(Schedule {
            every,
            hour,
            minute,
        })
    }
}

/// A whole workspace as written.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub settings: Settings,
    pub sources: Vec<Source>,
    pub kpis: Vec<Kpi>,
    pub dashboards: Vec<Dashboard>,
    pub alerts: Vec<AlertRule>,
    pub insights: Vec<Insight>,
    pub reports: Vec<Report>,
}

/// An insight of `insights/*.yaml` (SPEC §12): a condition over several KPIs and what to say
/// when it holds.
#[derive(Debug, Clone)]
pub struct Insight {
    pub id: Text,
    /// A condition over `KPI.value`, `KPI.target`, `KPI.status`, `KPI.previous`, `KPI.growth`.
    pub when: Text,
    pub message_es: Option<String>,
    pub message_en: Option<String>,
    pub file: PathBuf,
}

impl Insight {
    /// The message in a language, or in the other one when it has only that.
    pub fn message(&self, locale: Locale) -> &str {
        let (first, second) = match locale {
            Locale::Es => (&self.message_es, &self.message_en),
            Locale::En => (&self.message_en, &self.message_es),
        };
        first.as_deref().or(second.as_deref()).unwrap_or("")
    }
}

/// An alert rule of `alerts/*.yaml` (SPEC §12): which KPIs, when it fires, whom it tells.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub id: Text,
    pub select: AlertSelect,
    pub when: AlertWhen,
    pub notify: Vec<Notify>,
    pub file: PathBuf,
}

/// The KPIs a rule watches.
#[derive(Debug, Clone)]
pub enum AlertSelect {
    Kpis(Vec<Text>),
    Owner(Text),
    Tags(Vec<Text>),
}

/// When a rule fires.
#[derive(Debug, Clone)]
pub enum AlertWhen {
    /// The latest complete period's status changed to one of these statuses.
    Status { to: Vec<Text> },
    /// A condition over `value`, `target` and `previous` holds for the latest complete period.
    Value { condition: Text },
    /// The latest complete period's value falls outside the band the KPI's own history
    /// expects (trend and seasonality).
    Anomaly,
}

/// Where a firing goes.
#[derive(Debug, Clone)]
pub enum Notify {
    /// A Slack-compatible incoming webhook URL.
    Webhook(Text),
    /// E-mail addresses, sent through `[smtp]`.
    Email(Vec<Text>),
}

/// `[smtp]` of `tablero.toml`; the password comes from `TABLERO_SMTP_PASSWORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub from: String,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    None,
    StartTls,
    Tls,
}

impl Settings {
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }
}

impl Workspace {
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name.value == name)
    }

    pub fn kpi(&self, id: &str) -> Option<&Kpi> {
        self.kpis.iter().find(|k| k.id.value == id)
    }

    pub fn dashboard(&self, id: &str) -> Option<&Dashboard> {
        self.dashboards.iter().find(|d| d.id == id)
    }
}
