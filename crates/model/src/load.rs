//! Reading a workspace folder: `tablero.toml`, `sources/*.yaml` and `kpis/*.yaml`.
//!
//! Loading never stops at the first problem: every file is read, every problem becomes a
//! [`Diagnostic`] with its file, line and column, and whatever could be understood is kept so
//! the checker can report the rest too.

use std::path::{Path, PathBuf};

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node, Span};
use serde::Deserialize;

use crate::defs::*;
use crate::diagnostic::{Diagnostic, Location};
use tablero_calendar::Grain;

/// The settings file at a workspace's root.
pub const SETTINGS_FILE: &str = "tablero.toml";
/// The folders of definitions (`*.yaml`) [`load_workspace`] reads, in the order it reads
/// them: whoever watches a workspace for changes watches these (and [`SETTINGS_FILE`]).
pub const DEFINITION_FOLDERS: [&str; 6] = [SOURCES, KPIS, DASHBOARDS, ALERTS, INSIGHTS, REPORTS];
const SOURCES: &str = "sources";
const KPIS: &str = "kpis";
const DASHBOARDS: &str = "dashboards";
const ALERTS: &str = "alerts";
const INSIGHTS: &str = "insights";
const REPORTS: &str = "reports";

/// Reads the workspace at `root`. The workspace is usable only if no diagnostic is an error.
pub fn load_workspace(root: &Path) -> (Workspace, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let settings = load_settings(root, &mut diagnostics);
    let sources = load_definitions(
        root,
        SOURCES,
        "source",
        &mut diagnostics,
        |f, n| f.source(n),
        |s| {
            (
                s.name.value.clone(),
                s.name.location.clone(),
                s.file.clone(),
            )
        },
    );
    let kpis = load_definitions(
        root,
        KPIS,
        "KPI",
        &mut diagnostics,
        |f, n| f.kpi(n),
        |k| (k.id.value.clone(), k.id.location.clone(), k.file.clone()),
    );
    let dashboards = load_definitions(
        root,
        DASHBOARDS,
        "dashboard",
        &mut diagnostics,
        |f, n| f.dashboard(n),
        |d| {
            (
                d.id.clone(),
                Location {
                    file: d.file.clone(),
                    line: 1,
                    column: 1,
                },
                d.file.clone(),
            )
        },
    );
    let alerts = load_definitions(
        root,
        ALERTS,
        "alert rule",
        &mut diagnostics,
        |f, n| f.alert(n),
        |a| (a.id.value.clone(), a.id.location.clone(), a.file.clone()),
    );
    let insights = load_definitions(
        root,
        INSIGHTS,
        "insight",
        &mut diagnostics,
        |f, n| f.insight(n),
        |i| (i.id.value.clone(), i.id.location.clone(), i.file.clone()),
    );
    let reports = load_definitions(
        root,
        REPORTS,
        "report",
        &mut diagnostics,
        |f, n| f.report(n),
        |r| (r.id.value.clone(), r.id.location.clone(), r.file.clone()),
    );
    let workspace = Workspace {
        root: root.to_path_buf(),
        settings,
        sources,
        kpis,
        dashboards,
        alerts,
        insights,
        reports,
    };
    (workspace, diagnostics)
}

/// Every definition of `folder`'s YAML files; a second one with a name already taken is an
/// error at its name, naming the file of the first.
fn load_definitions<T>(
    root: &Path,
    folder: &str,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
    parse: impl Fn(&mut YamlFile<'_>, &MarkedMappingNode) -> Option<T>,
    name: impl Fn(&T) -> (String, Location, PathBuf),
) -> Vec<T> {
    let mut definitions: Vec<T> = Vec::new();
    for (rel, text) in yaml_files(root, folder, diagnostics) {
        let mut file = YamlFile {
            root,
            rel,
            text: &text,
            diagnostics,
        };
        for node in file.documents() {
            let Some(definition) = parse(&mut file, &node) else {
                continue;
            };
            let (id, location, _) = name(&definition);
            match definitions
                .iter()
                .map(&name)
                .find(|(other, _, _)| *other == id)
            {
                Some((_, _, first)) => {
                    let message =
                        format!("{what} `{id}` is already defined in {}", first.display());
                    file.diagnostics
                        .push(Diagnostic::error(Some(location), message));
                }
                None => definitions.push(definition),
            }
        }
    }
    definitions
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    name: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
    currency: Option<String>,
    week_start: Option<String>,
    fiscal_year_start: Option<i64>,
    state: Option<String>,
    public_url: Option<String>,
    alerts_every: Option<i64>,
    smtp: Option<SmtpFile>,
    #[serde(default)]
    connections: std::collections::BTreeMap<String, ConnectionFile>,
    engine: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionFile {
    url: String,
    tls: Option<String>,
    pool: Option<i64>,
    statement_timeout: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpFile {
    host: String,
    port: Option<i64>,
    security: Option<String>,
    from: String,
    username: Option<String>,
}

/// `[connections.NAME]` checked: a PostgreSQL URL without a password, known TLS mode, a
/// pool of 1–64 connections, a statement timeout of 1 s to 24 h.
fn settings_connection(name: &str, file: ConnectionFile) -> Result<Connection, String> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        return Err(format!(
            "connection name `{name}` must be letters, digits, `_` or `-`"
        ));
    }
    let scheme = file
        .url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
        return Err(format!(
            "connection `{name}`: url must be a \"postgres://user@host:port/database\" URL (PostgreSQL is the database supported)"
        ));
    }
    let userinfo = file
        .url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .and_then(|authority| authority.rsplit_once('@').map(|(user, _)| user))
        .unwrap_or("");
    if userinfo.contains(':') || file.url.to_ascii_lowercase().contains("password=") {
        let connection = Connection {
            name: name.to_string(),
            url: String::new(),
            tls: ConnectionTls::Prefer,
            pool: 1,
            statement_timeout: 1,
        };
        return Err(format!(
            "connection `{name}`: the url holds a password; remove it and set {} instead (a password is never kept in tablero.toml)",
            connection.password_variable()
        ));
    }
    let tls = match file.tls.as_deref() {
        None | Some("prefer") => ConnectionTls::Prefer,
        Some("disable") => ConnectionTls::Disable,
        Some("require") => ConnectionTls::Require,
        Some("verify-full") => ConnectionTls::VerifyFull,
        Some(other) => {
            return Err(format!(
                "connection `{name}`: tls `{other}`, expected disable, prefer, require or verify-full"
            ));
        }
    };
    let pool = match file.pool {
        None => 4,
        Some(n @ 1..=64) => n as u32,
        Some(n) => {
            return Err(format!(
                "connection `{name}`: pool is {n}, expected 1 to 64 connections"
            ));
        }
    };
    let statement_timeout = match file.statement_timeout {
        None => 300,
        Some(n @ 1..=86_400) => n as u32,
        Some(n) => {
            return Err(format!(
                "connection `{name}`: statement_timeout is {n}, expected seconds from 1 to 86400"
            ));
        }
    };
    Ok(Connection {
        name: name.to_string(),
        url: file.url,
        tls,
        pool,
        statement_timeout,
    })
}

fn load_settings(root: &Path, diagnostics: &mut Vec<Diagnostic>) -> Settings {
    let path = root.join(SETTINGS_FILE);
    let rel = PathBuf::from("tablero.toml");
    if let Some(kind) = special_file(&path) {
        let message = format!("tablero.toml is {kind}, not a regular file");
        diagnostics.push(Diagnostic::error(
            Some(Location {
                file: rel,
                line: 1,
                column: 1,
            }),
            message,
        ));
        return Settings::default();
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            let message = format!(
                "cannot read {} ({err}); a workspace needs a tablero.toml (`tablero init DIR` writes one)",
                path.display()
            );
            diagnostics.push(Diagnostic::error(None, message));
            return Settings::default();
        }
    };
    let at = |offset: usize| {
        let (line, column) = line_column(&text, offset);
        Some(Location {
            file: rel.clone(),
            line,
            column,
        })
    };
    let file: SettingsFile = match toml::from_str(&text) {
        Ok(file) => file,
        Err(err) => {
            let location = err.span().and_then(|s| at(s.start));
            diagnostics.push(Diagnostic::error(location, err.message().to_string()));
            return Settings::default();
        }
    };
    let find = |key: &str| text.find(key).and_then(&at);
    let mut settings = Settings::default();
    if let Some(name) = file.name {
        settings.name = name;
    }
    match file.locale.as_deref() {
        None | Some("en") => settings.locale = Locale::En,
        Some("es") => settings.locale = Locale::Es,
        Some(other) => diagnostics.push(Diagnostic::error(
            find("locale"),
            format!("unknown locale `{other}`, expected \"es\" or \"en\""),
        )),
    }
    if let Some(tz) = file.timezone {
        if jiff::tz::TimeZone::get(&tz).is_err() {
            diagnostics.push(Diagnostic::error(
                find("timezone"),
                format!(
                    "unknown time zone `{tz}`, expected an IANA name such as \"America/Santiago\""
                ),
            ));
        } else {
            settings.timezone = tz;
        }
    }
    if let Some(currency) = file.currency {
        settings.currency = currency;
    }
    if let Some(week_start) = file.week_start
        && week_start != "monday"
    {
        diagnostics.push(Diagnostic::error(
            find("week_start"),
            format!("week_start `{week_start}` is not supported, expected \"monday\" (ISO weeks)"),
        ));
    }
    if let Some(month) = file.fiscal_year_start {
        match u8::try_from(month) {
            Ok(m @ 1..=12) => settings.fiscal_year_start = m,
            _ => diagnostics.push(Diagnostic::error(
                find("fiscal_year_start"),
                format!("fiscal_year_start is {month}, expected a month number from 1 to 12"),
            )),
        }
    }
    if let Some(url) = file.public_url {
        if url.starts_with("https://") || url.starts_with("http://") {
            settings.public_url = Some(url.trim_end_matches('/').to_string());
        } else {
            diagnostics.push(Diagnostic::error(
                find("public_url"),
                format!("public_url must be an http:// or https:// address, found `{url}`"),
            ));
        }
    }
    if let Some(minutes) = file.alerts_every {
        match u32::try_from(minutes) {
            Ok(m @ 1..=1440) => settings.alerts_every = m,
            _ => diagnostics.push(Diagnostic::error(
                find("alerts_every"),
                format!("alerts_every is {minutes}, expected minutes from 1 to 1440"),
            )),
        }
    }
    if let Some(smtp) = file.smtp {
        let security = match smtp.security.as_deref() {
            None | Some("starttls") => Some(SmtpSecurity::StartTls),
            Some("tls") => Some(SmtpSecurity::Tls),
            Some("none") => Some(SmtpSecurity::None),
            Some(other) => {
                diagnostics.push(Diagnostic::error(
                    find("security"),
                    format!("smtp security `{other}`, expected none, starttls or tls"),
                ));
                None
            }
        };
        let default_port = match security {
            Some(SmtpSecurity::Tls) => 465,
            Some(SmtpSecurity::None) => 25,
            _ => 587,
        };
        let port = match smtp.port {
            None => Some(default_port),
            Some(p) => match u16::try_from(p) {
                Ok(p @ 1..) => Some(p),
                _ => {
                    diagnostics.push(Diagnostic::error(
                        find("port"),
                        format!("smtp port is {p}, expected 1 to 65535"),
                    ));
                    None
                }
            },
        };
        if let (Some(security), Some(port)) = (security, port) {
            settings.smtp = Some(Smtp {
                host: smtp.host,
                port,
                security,
                from: smtp.from,
                username: smtp.username,
            });
        }
    }
    if let Some(engine) = file.engine {
        let address = engine.strip_prefix("ballista://").unwrap_or_default();
        let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if engine == "embedded" {
        } else if valid && !address.contains('/') {
            settings.cluster = Some(address.to_string());
        } else {
            diagnostics.push(Diagnostic::error(
                find("engine"),
                format!(
                    "engine `{engine}`: expected \"embedded\" or \"ballista://HOST:PORT\" (a cluster's scheduler)"
                ),
            ));
        }
    }
    for (name, connection) in file.connections {
        let at_name = text
            .find(&format!("connections.{name}"))
            .and_then(&at)
            .or_else(|| find("connections"));
        match settings_connection(&name, connection) {
            Ok(connection) => settings.connections.push(connection),
            Err(message) => diagnostics.push(Diagnostic::error(at_name, message)),
        }
    }
    if let Some(state) = file.state {
        let scheme = state.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql" | "sqlite") => settings.state = Some(state),
            _ => diagnostics.push(Diagnostic::error(
                find("state"),
                "state must be a \"postgres://…\" or \"sqlite:…\" URL (without it, data/tablero.db is used)".to_string(),
            )),
        }
    }
    settings
}

/// `tablero.toml`'s `state` alone (SPEC §14), for commands that need the state database
/// whatever else the workspace holds: `None` means `data/tablero.db`. An unreadable file or
/// an invalid `state` is an error, never a silent fall back to the default.
pub fn state_setting(root: &Path) -> Result<Option<String>, Diagnostic> {
    let mut diagnostics = Vec::new();
    let settings = load_settings(root, &mut diagnostics);
    let text = std::fs::read_to_string(root.join("tablero.toml")).unwrap_or_default();
    #[derive(Deserialize)]
    struct StateOnly {
        state: Option<toml::Value>,
    }
    let written = toml::from_str::<StateOnly>(&text)
        .ok()
        .and_then(|f| f.state)
        .is_some();
    if settings.state.is_none()
        && (written || text.is_empty())
        && let Some(first) = diagnostics.into_iter().next()
    {
        return Err(first);
    }
    Ok(settings.state)
}

/// 1-based line and character column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let prefix = text.get(..offset).unwrap_or(text);
    let line = prefix.matches('\n').count() + 1;
    let column = prefix.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// The `*.yaml`/`*.yml` files of a folder, sorted, with their text.
fn yaml_files(
    root: &Path,
    folder: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let rel = PathBuf::from(folder).join(path.file_name().unwrap_or_default());
        // Opening a FIFO would wait forever, and a device could be endless.
        if let Some(kind) = special_file(&path) {
            let message = format!("{} is {kind}, not a regular file", rel.display());
            let location = Location {
                file: rel,
                line: 1,
                column: 1,
            };
            diagnostics.push(Diagnostic::error(Some(location), message));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((rel, text)),
            Err(err) => diagnostics.push(Diagnostic::error(
                Some(Location {
                    file: rel,
                    line: 1,
                    column: 1,
                }),
                format!("cannot read file: {err}"),
            )),
        }
    }
    files
}

struct YamlFile<'a> {
    /// The workspace folder, which a source's `file` must stay inside.
    root: &'a Path,
    rel: PathBuf,
    text: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl YamlFile<'_> {
    /// The top-level mappings: one mapping, or a list of them.
    fn documents(&mut self) -> Vec<MarkedMappingNode> {
        let options = LoaderOptions::default()
            .error_on_duplicate_keys(true)
            .prevent_coercion(false);
        let node = match marked_yaml::parse_yaml_with_options(0, self.text, options) {
            Ok(node) => node,
            Err(LoadError::TopLevelMustBeMapping(_)) => {
                let options = LoaderOptions::default()
                    .error_on_duplicate_keys(true)
                    .toplevel_sequence();
                match marked_yaml::parse_yaml_with_options(0, self.text, options) {
                    Ok(node) => node,
                    Err(err) => return self.load_error(err),
                }
            }
            Err(err) => return self.load_error(err),
        };
        match node {
            Node::Mapping(map) => vec![map],
            Node::Sequence(seq) => {
                let mut maps = Vec::new();
                for item in seq.iter() {
                    match item {
                        Node::Mapping(map) => maps.push(map.clone()),
                        other => self.error(
                            other.span(),
                            "expected a mapping (`key: value` lines) in this list",
                        ),
                    }
                }
                maps
            }
            Node::Scalar(s) => {
                self.error(
                    s.span(),
                    "expected a mapping (`key: value` lines), found a single value",
                );
                Vec::new()
            }
        }
    }

    fn load_error(&mut self, err: LoadError) -> Vec<MarkedMappingNode> {
        let (marker, message) = match &err {
            LoadError::ScanError(m, e) => (Some(*m), format!("invalid YAML: {}", e.info())),
            LoadError::DuplicateKey(inner) => (
                inner.key.span().start().copied(),
                format!("duplicate key `{}`", inner.key.as_str()),
            ),
            LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => (
                Some(*m),
                "expected a mapping or a list of mappings".to_string(),
            ),
            LoadError::UnexpectedAnchor(m) => {
                (Some(*m), "YAML anchors are not supported".to_string())
            }
            LoadError::UnexpectedTag(m) => (Some(*m), "YAML tags are not supported".to_string()),
            LoadError::MappingKeyMustBeScalar(m) => {
                (Some(*m), "a key must be a plain word".to_string())
            }
        };
        let location = marker
            .map(|m| self.marker_location(&m))
            .unwrap_or(Location {
                file: self.rel.clone(),
                line: 1,
                column: 1,
            });
        self.diagnostics
            .push(Diagnostic::error(Some(location), message));
        Vec::new()
    }

    fn marker_location(&self, marker: &marked_yaml::Marker) -> Location {
        Location {
            file: self.rel.clone(),
            line: marker.line().max(1),
            column: marker.column().max(1),
        }
    }

    fn location(&self, span: &Span) -> Location {
        match span.start() {
            Some(m) => self.marker_location(m),
            None => Location {
                file: self.rel.clone(),
                line: 1,
                column: 1,
            },
        }
    }

    fn error(&mut self, span: &Span, message: impl Into<String>) {
        let location = self.location(span);
        self.diagnostics
            .push(Diagnostic::error(Some(location), message));
    }

    fn text(&self, node: &MarkedScalarNode) -> Text {
        let location = self.location(node.span());
        let first = node
            .span()
            .start()
            .and_then(|m| self.text.chars().nth(m.character()));
        let inner_offset = match first {
            Some('\'' | '"') => Some(1),
            Some('|' | '>') => None,
            _ => Some(0),
        };
        Text {
            value: node.as_str().to_string(),
            location,
            inner_offset,
        }
    }

    /// Reports keys of `map` not in `known`.
    fn check_keys(&mut self, map: &MarkedMappingNode, what: &str, known: &[&str]) {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let message = format!(
                    "unknown key `{}` in {what}, expected one of: {}",
                    key.as_str(),
                    known.join(", ")
                );
                self.error(key.span(), message);
            }
        }
    }

    fn scalar(&mut self, map: &MarkedMappingNode, key: &str) -> Option<Text> {
        let node = map.get_node(key)?;
        match node {
            Node::Scalar(s) => Some(self.text(s)),
            other => {
                self.error(other.span(), format!("`{key}` must be a single value"));
                None
            }
        }
    }

    fn required(&mut self, map: &MarkedMappingNode, key: &str, what: &str) -> Option<Text> {
        let value = self.scalar(map, key);
        if value.is_none() && map.get_node(key).is_none() {
            self.error(map.span(), format!("{what} has no `{key}`"));
        }
        value
    }

    fn number(&mut self, text: &Text, what: &str) -> Option<f64> {
        match text.value.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                let message = format!("{what} must be a number, found `{}`", text.value);
                self.diagnostics
                    .push(Diagnostic::error(Some(text.location.clone()), message));
                None
            }
        }
    }

    fn word_list(&mut self, map: &MarkedMappingNode, key: &str) -> Vec<Text> {
        match map.get_node(key) {
            None => Vec::new(),
            Some(Node::Sequence(seq)) => seq
                .iter()
                .filter_map(|n| match n {
                    Node::Scalar(s) => Some(self.text(s)),
                    other => {
                        self.error(other.span(), format!("`{key}` must be a list of names"));
                        None
                    }
                })
                .collect(),
            Some(Node::Scalar(s)) if s.as_str().is_empty() => Vec::new(),
            Some(other) => {
                self.error(
                    other.span(),
                    format!("`{key}` must be a list, like `[a, b]`"),
                );
                Vec::new()
            }
        }
    }

    fn source(&mut self, map: &MarkedMappingNode) -> Option<Source> {
        self.check_keys(
            map,
            "a source",
            &[
                "name",
                "label",
                "description",
                "file",
                "store",
                "manual",
                "owner",
                "connection",
                "table",
                "time",
                "columns",
                "dimensions",
                "csv",
                "measures",
            ],
        );
        let name = self.required(map, "name", "a source")?;
        // The name becomes a folder (`data/store/NAME`) and part of URLs: a source whose
        // name is not a plain identifier is left out, so nothing can write through it.
        if !self.plain_name(
            &name,
            "a source name",
            "it names the store folder data/store/NAME and the API path /api/v1/sources/NAME",
        ) {
            return None;
        }
        let label = self.scalar(map, "label").map(|t| t.value);
        let file = self.scalar(map, "file");
        let manual = self
            .scalar(map, "manual")
            .map(|t| t.value == "true")
            .unwrap_or(false);
        // A manual source is a store source whose rows come from a form.
        let store = manual
            || self
                .scalar(map, "store")
                .map(|t| t.value == "true")
                .unwrap_or(false);
        let owner = self.scalar(map, "owner");
        let connection = self.scalar(map, "connection");
        let table = self.scalar(map, "table");
        let data = match (file, store, connection, table) {
            (None, false, Some(connection), Some(table)) => {
                let Some(name) = TableName::parse(&table.value) else {
                    let message = format!(
                        "`table` must be `name` or `schema.name` (a part with spaces or capitals in double quotes), found `{}`",
                        table.value
                    );
                    self.diagnostics
                        .push(Diagnostic::error(Some(table.location), message));
                    return None;
                };
                SourceData::Table {
                    connection,
                    table: name,
                }
            }
            (_, _, Some(_), None) | (_, _, None, Some(_)) => {
                self.error(
                    map.span(),
                    "a database source needs both `connection` and `table`",
                );
                return None;
            }
            (file, store, Some(_), Some(_)) if file.is_some() || store => {
                self.error(
                    map.span(),
                    "a source has one of `file`, `store: true` or `connection` + `table`",
                );
                return None;
            }
            (Some(_), true, _, _) => {
                self.error(
                    map.span(),
                    "a source has either `file` or `store: true`, not both",
                );
                return None;
            }
            (Some(file), false, _, _) => {
                let lower = file.value.to_ascii_lowercase();
                if !(lower.ends_with(".csv") || lower.ends_with(".parquet")) {
                    let message = format!(
                        "`file` must end in .csv or .parquet, found `{}`",
                        file.value
                    );
                    self.diagnostics
                        .push(Diagnostic::error(Some(file.location), message));
                    return None;
                }
                // A file outside the workspace, or one that is not a regular file, is never
                // opened: the source is left out.
                if let Err(message) = data_file(self.root, &file.value) {
                    self.diagnostics
                        .push(Diagnostic::error(Some(file.location), message));
                    return None;
                }
                SourceData::File(PathBuf::from(file.value))
            }
            (None, true, _, _) => SourceData::Store,
            (None, false, _, _) => {
                self.error(
                    map.span(),
                    format!(
                        "source `{}` needs `file: data/…`, `store: true` or `connection` + `table`",
                        name.value
                    ),
                );
                return None;
            }
        };
        let time = self.scalar(map, "time");
        let mut columns = Vec::new();
        match map.get_node("columns") {
            Some(Node::Mapping(cols)) => {
                for (key, value) in cols.iter() {
                    if let Some(column) = self.column(key, value) {
                        columns.push(column);
                    }
                }
            }
            Some(other) => self.error(
                other.span(),
                "`columns` must map each column name to `{ type: … }`",
            ),
            None => self.error(
                map.span(),
                format!("source `{}` has no `columns`", name.value),
            ),
        }
        let dimensions = self.word_list(map, "dimensions");
        let csv = match map.get_node("csv") {
            Some(Node::Mapping(csv)) => self.csv_options(csv),
            Some(other) => {
                self.error(
                    other.span(),
                    "`csv` must be a mapping like `{ delimiter: \";\", decimal: \",\" }`",
                );
                CsvOptions::default()
            }
            None => CsvOptions::default(),
        };
        let mut measures = Vec::new();
        match map.get_node("measures") {
            Some(Node::Mapping(ms)) => {
                for (key, value) in ms.iter() {
                    if let Some(measure) = self.measure(key, value) {
                        measures.push(measure);
                    }
                }
            }
            Some(other) => self.error(
                other.span(),
                "`measures` must map each measure name to `{ agg: … }`",
            ),
            None => {}
        }
        Some(Source {
            name,
            label,
            data,
            time,
            columns,
            dimensions,
            csv,
            measures,
            manual,
            owner,
            file: self.rel.clone(),
        })
    }

    fn column(&mut self, key: &MarkedScalarNode, value: &Node) -> Option<Column> {
        let location = self.location(key.span());
        let (ty_text, format) = match value {
            Node::Mapping(m) => {
                self.check_keys(m, "a column", &["type", "format", "description"]);
                (
                    self.required(m, "type", "a column")?,
                    self.scalar(m, "format").map(|t| t.value),
                )
            }
            Node::Scalar(s) => (self.text(s), None),
            Node::Sequence(s) => {
                self.error(s.span(), "a column is `{ type: string }` or just `string`");
                return None;
            }
        };
        let Some(ty) = ColumnType::parse(&ty_text.value) else {
            let message = format!(
                "unknown column type `{}`, expected one of: string, integer, number, boolean, date, timestamp",
                ty_text.value
            );
            self.diagnostics
                .push(Diagnostic::error(Some(ty_text.location), message));
            return None;
        };
        Some(Column {
            name: key.as_str().to_string(),
            ty,
            format,
            location,
        })
    }

    fn csv_options(&mut self, map: &MarkedMappingNode) -> CsvOptions {
        self.check_keys(map, "csv options", &["delimiter", "decimal"]);
        let mut options = CsvOptions::default();
        if let Some(d) = self.scalar(map, "delimiter") {
            let d_value = if d.value == "\\t" {
                "\t".to_string()
            } else {
                d.value.clone()
            };
            match d_value.as_bytes() {
                [b] if b.is_ascii() => options.delimiter = *b,
                _ => self.diagnostics.push(Diagnostic::error(
                    Some(d.location),
                    format!(
                        "`delimiter` must be one character such as \",\" or \";\", found `{}`",
                        d.value
                    ),
                )),
            }
        }
        if let Some(d) = self.scalar(map, "decimal") {
            match d.value.as_str() {
                "." => options.decimal = '.',
                "," => options.decimal = ',',
                _ => self.diagnostics.push(Diagnostic::error(
                    Some(d.location),
                    format!("`decimal` must be \".\" or \",\", found `{}`", d.value),
                )),
            }
        }
        options
    }

    fn measure(&mut self, key: &MarkedScalarNode, value: &Node) -> Option<Measure> {
        let name = self.text(key);
        let Node::Mapping(m) = value else {
            self.error(value.span(), "a measure is a mapping like `{ agg: count }`");
            return None;
        };
        self.check_keys(
            m,
            "a measure",
            &[
                "agg",
                "expr",
                "filter",
                "time",
                "p",
                "start",
                "end",
                "at",
                "per",
                "description",
            ],
        );
        let agg_text = self.required(m, "agg", "a measure")?;
        let per = self.scalar(m, "per");
        let agg = match agg_text.value.as_str() {
            "count" => Agg::Count,
            "count_distinct" => Agg::CountDistinct,
            "sum" => Agg::Sum,
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "median" => Agg::Median,
            "last" => Agg::Last { per: per.clone() },
            "first" => Agg::First { per: per.clone() },
            "percentile" => {
                let p_text = self.required(m, "p", "a percentile measure")?;
                let p = self.number(&p_text, "`p`")?;
                if !(0.0..=1.0).contains(&p) {
                    let message = format!(
                        "`p` must be between 0 and 1 (0.9 for the 90th percentile), found {p}"
                    );
                    self.diagnostics
                        .push(Diagnostic::error(Some(p_text.location), message));
                    return None;
                }
                Agg::Percentile(p)
            }
            "active" => {
                let start = self.required(m, "start", "an `active` measure")?;
                let end = self.required(m, "end", "an `active` measure")?;
                let at = match self.scalar(m, "at") {
                    None => ActiveAt::End,
                    Some(t) => match t.value.as_str() {
                        "start" => ActiveAt::Start,
                        "end" => ActiveAt::End,
                        "average" => ActiveAt::Average,
                        other => {
                            let message =
                                format!("unknown `at: {other}`, expected start, end or average");
                            self.diagnostics
                                .push(Diagnostic::error(Some(t.location), message));
                            return None;
                        }
                    },
                };
                Agg::Active { start, end, at }
            }
            other => {
                let message = format!(
                    "unknown aggregation `{other}`, expected one of: count, count_distinct, sum, avg, min, max, median, percentile, last, first, active"
                );
                self.diagnostics
                    .push(Diagnostic::error(Some(agg_text.location), message));
                return None;
            }
        };
        if let Some(per) = per.filter(|_| !matches!(agg, Agg::Last { .. } | Agg::First { .. })) {
            let message = format!(
                "`per` is only for `last` and `first` measures (each value of the column keeps its own latest or earliest snapshot), not for `agg: {}`; to aggregate per group, use a group function in the KPI formula, like `max(source.{} per {})`",
                agg.name(),
                name.value,
                per.value
            );
            self.diagnostics
                .push(Diagnostic::error(Some(per.location), message));
        }
        let expr = self.scalar(m, "expr");
        let needs_expr = !matches!(agg, Agg::Count | Agg::Active { .. });
        if needs_expr && expr.is_none() {
            let message = format!(
                "measure `{}` with `agg: {}` needs an `expr`",
                name.value,
                agg.name()
            );
            self.diagnostics
                .push(Diagnostic::error(Some(agg_text.location.clone()), message));
            return None;
        }
        Some(Measure {
            name,
            agg,
            expr,
            filter: self.scalar(m, "filter"),
            time: self.scalar(m, "time"),
        })
    }

    fn kpi(&mut self, map: &MarkedMappingNode) -> Option<Kpi> {
        self.check_keys(
            map,
            "a KPI",
            &[
                "id",
                "name",
                "description",
                "owner",
                "group",
                "tags",
                "kind",
                "unit",
                "decimals",
                "direction",
                "grain",
                "formula",
                "target",
                "targets",
                "thresholds",
            ],
        );
        let id = self.required(map, "id", "a KPI")?;
        self.plain_name(
            &id,
            "a KPI id",
            "it is used in formulas and in the URLs /kpis/ID and /api/v1/kpis/ID",
        );
        let name = self
            .scalar(map, "name")
            .map(|t| t.value)
            .unwrap_or_else(|| id.value.clone());
        let description = self.scalar(map, "description").map(|t| t.value);
        let owner = self
            .scalar(map, "owner")
            .filter(|t| !t.value.trim().is_empty());
        let group = self.scalar(map, "group").map(|t| t.value);
        let tags = self
            .word_list(map, "tags")
            .into_iter()
            .map(|t| t.value)
            .collect();
        let kind = match self.scalar(map, "kind") {
            None => None,
            Some(t) => match t.value.as_str() {
                "leading" => Some(KpiKind::Leading),
                "lagging" => Some(KpiKind::Lagging),
                other => {
                    let message = format!("unknown kind `{other}`, expected leading or lagging");
                    self.diagnostics
                        .push(Diagnostic::error(Some(t.location), message));
                    None
                }
            },
        };
        let unit = match self.scalar(map, "unit") {
            None => Unit::Number,
            Some(t) => Unit::parse(&t.value).unwrap_or_else(|| {
                let message = format!(
                    "unknown unit `{}`, expected one of: percent, count, currency, days, hours, minutes, ratio, number",
                    t.value
                );
                self.diagnostics.push(Diagnostic::error(Some(t.location), message));
                Unit::Number
            }),
        };
        let decimals = match self.scalar(map, "decimals") {
            None => match unit {
                Unit::Count | Unit::Currency => 0,
                _ => 1,
            },
            Some(t) => match t.value.parse::<u8>() {
                Ok(d) if d <= 10 => d,
                _ => {
                    let message = format!(
                        "`decimals` must be a whole number from 0 to 10, found `{}`",
                        t.value
                    );
                    self.diagnostics
                        .push(Diagnostic::error(Some(t.location), message));
                    1
                }
            },
        };
        let direction = match self.scalar(map, "direction") {
            None => Direction::Up,
            Some(t) => match t.value.as_str() {
                "up" => Direction::Up,
                "down" => Direction::Down,
                other => {
                    let message = format!("unknown direction `{other}`, expected up or down");
                    self.diagnostics
                        .push(Diagnostic::error(Some(t.location), message));
                    Direction::Up
                }
            },
        };
        let grain = self.grain(map);
        let formula = self.scalar(map, "formula");
        let target = self
            .scalar(map, "target")
            .map(|t| match t.value.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Target::Constant(v),
                _ => Target::Formula(t),
            });
        let mut targets = Vec::new();
        match map.get_node("targets") {
            None => {}
            Some(Node::Mapping(m)) => {
                for (key, value) in m.iter() {
                    let label = self.text(key);
                    match value {
                        Node::Scalar(s) => {
                            let text = self.text(s);
                            if let Some(v) = self.number(&text, "a target") {
                                targets.push((label, v));
                            }
                        }
                        other => self.error(other.span(), "a target override must be a number"),
                    }
                }
            }
            Some(other) => self.error(
                other.span(),
                "`targets` must map period labels to numbers, like `{ \"2026-Q3\": 32 }`",
            ),
        }
        let mut at_risk = None;
        match map.get_node("thresholds") {
            None => {}
            Some(Node::Mapping(m)) => {
                self.check_keys(m, "thresholds", &["at_risk"]);
                if let Some(t) = self.scalar(m, "at_risk") {
                    at_risk = self.threshold(&t);
                }
            }
            Some(other) => self.error(
                other.span(),
                "`thresholds` must be a mapping like `{ at_risk: 25 }`",
            ),
        }
        let location = self.location(map.span());
        Some(Kpi {
            id,
            name,
            description,
            owner,
            group,
            tags,
            kind,
            unit,
            decimals,
            direction,
            grain,
            formula,
            target,
            targets,
            at_risk,
            file: self.rel.clone(),
            location,
        })
    }

    /// The `grain` key, if any and valid.
    fn grain(&mut self, map: &MarkedMappingNode) -> Option<Grain> {
        let t = self.scalar(map, "grain")?;
        let grain = Grain::parse(&t.value);
        if grain.is_none() {
            let message = format!(
                "unknown grain `{}`, expected one of: day, week, month, quarter, year",
                t.value
            );
            self.diagnostics
                .push(Diagnostic::error(Some(t.location), message));
        }
        grain
    }

    fn dashboard(&mut self, map: &MarkedMappingNode) -> Option<Dashboard> {
        self.check_keys(
            map,
            "a dashboard",
            &[
                "id",
                "title",
                "description",
                "grain",
                "periods",
                "kpis",
                "sections",
            ],
        );
        let id = self.required(map, "id", "a dashboard")?;
        if !self.plain_name(&id, "a dashboard id", "it is used in the URL /tv/ID") {
            return None;
        }
        let title = self
            .scalar(map, "title")
            .map(|t| t.value)
            .unwrap_or_else(|| id.value.clone());
        let grain = self.grain(map);
        let periods = match self.scalar(map, "periods") {
            None => None,
            Some(t) => match t.value.parse::<u32>() {
                Ok(n @ 1..=120) => Some(n),
                _ => {
                    let message = format!(
                        "`periods` must be a whole number from 1 to 120, found `{}`",
                        t.value
                    );
                    self.diagnostics
                        .push(Diagnostic::error(Some(t.location), message));
                    None
                }
            },
        };
        let mut kpis = self.word_list(map, "kpis");
        let mut sections = Vec::new();
        match map.get_node("sections") {
            None => {}
            Some(Node::Sequence(seq)) => {
                if !kpis.is_empty() {
                    self.error(
                        map.span(),
                        "a dashboard lists `kpis:` or `sections:`, not both",
                    );
                }
                for node in seq.iter() {
                    let Node::Mapping(section) = node else {
                        self.error(
                            node.span(),
                            "each section is `title:` and `kpis:`, like `- title: Ventas`",
                        );
                        continue;
                    };
                    self.check_keys(section, "a section", &["title", "kpis"]);
                    let Some(title) = self.required(section, "title", "a section") else {
                        continue;
                    };
                    let members = self.word_list(section, "kpis");
                    kpis.extend(members.iter().cloned());
                    sections.push(Section {
                        title: title.value,
                        kpis: members,
                    });
                }
            }
            Some(other) => self.error(
                other.span(),
                "`sections` must be a list of `title:` and `kpis:`",
            ),
        }
        Some(Dashboard {
            id: id.value,
            title,
            grain,
            periods,
            kpis,
            sections,
            file: self.rel.clone(),
        })
    }

    fn report(&mut self, map: &MarkedMappingNode) -> Option<Report> {
        self.check_keys(
            map,
            "a report",
            &["id", "description", "dashboard", "to", "schedule", "lang"],
        );
        let id = self.required(map, "id", "a report")?;
        if !self.plain_name(
            &id,
            "a report id",
            "it names the report in `tablero reports send`",
        ) {
            return None;
        }
        let dashboard = self.required(map, "dashboard", "a report")?;
        let to = match map.get_node("to") {
            Some(Node::Scalar(s)) => vec![self.text(s)],
            _ => self.word_list(map, "to"),
        };
        if to.is_empty() {
            self.error(
                map.span(),
                "a report needs `to:`, the e-mail addresses it goes to",
            );
        }
        for a in &to {
            if !a.value.contains('@') || a.value.chars().any(char::is_whitespace) {
                let message = format!("`{}` is not an e-mail address", a.value);
                self.diagnostics
                    .push(Diagnostic::error(Some(a.location.clone()), message));
            }
        }
        let schedule_text = self.required(map, "schedule", "a report")?;
        let schedule = match Schedule::parse(&schedule_text.value) {
            Ok(s) => s,
            Err(message) => {
                self.diagnostics
                    .push(Diagnostic::error(Some(schedule_text.location), message));
                return None;
            }
        };
        let locale = match self.scalar(map, "lang") {
            None => None,
            Some(t) => match t.value.as_str() {
                "es" => Some(Locale::Es),
                "en" => Some(Locale::En),
                other => {
                    let message = format!("`lang` is `es` or `en`, found `{other}`");
                    self.diagnostics
                        .push(Diagnostic::error(Some(t.location), message));
                    None
                }
            },
        };
        Some(Report {
            id,
            dashboard,
            to,
            schedule,
            locale,
            file: self.rel.clone(),
        })
    }

    fn insight(&mut self, map: &MarkedMappingNode) -> Option<Insight> {
        self.check_keys(map, "an insight", &["id", "description", "when", "message"]);
        let id = self.required(map, "id", "an insight")?;
        if !self.plain_name(&id, "an insight id", "it names the insight in the API") {
            return None;
        }
        let when = self.required(map, "when", "an insight")?;
        let (mut es, mut en) = (None, None);
        match map.get_node("message") {
            Some(Node::Scalar(s)) => {
                let text = self.text(s).value;
                es = Some(text.clone());
                en = Some(text);
            }
            Some(Node::Mapping(m)) => {
                self.check_keys(m, "a message", &["es", "en"]);
                es = self.scalar(m, "es").map(|t| t.value);
                en = self.scalar(m, "en").map(|t| t.value);
                if es.is_none() && en.is_none() {
                    self.error(m.span(), "a message needs `es:` or `en:` (or both)");
                }
            }
            Some(other) => self.error(
                other.span(),
                "`message` is a text, or `es:` and `en:` texts",
            ),
            None => self.error(
                map.span(),
                format!("insight `{}` has no `message`", id.value),
            ),
        }
        Some(Insight {
            id,
            when,
            message_es: es,
            message_en: en,
            file: self.rel.clone(),
        })
    }

    fn alert(&mut self, map: &MarkedMappingNode) -> Option<AlertRule> {
        self.check_keys(
            map,
            "an alert rule",
            &[
                "id",
                "description",
                "kpis",
                "owner",
                "tags",
                "when",
                "to",
                "value",
                "notify",
            ],
        );
        let id = self.required(map, "id", "an alert rule")?;
        if !self.plain_name(&id, "an alert rule id", "it names the rule's firings") {
            return None;
        }
        let chosen = ["kpis", "owner", "tags"]
            .iter()
            .filter(|k| map.get_node(k).is_some())
            .count();
        if chosen != 1 {
            self.error(
                map.span(),
                format!(
                    "alert rule `{}` must choose its KPIs with exactly one of `kpis`, `owner` or `tags`",
                    id.value
                ),
            );
            return None;
        }
        let select = if map.get_node("kpis").is_some() {
            AlertSelect::Kpis(self.word_list(map, "kpis"))
        } else if map.get_node("tags").is_some() {
            AlertSelect::Tags(self.word_list(map, "tags"))
        } else {
            AlertSelect::Owner(self.scalar(map, "owner")?)
        };
        let when = self.required(map, "when", "an alert rule")?;
        let when = match when.value.as_str() {
            "status" => {
                if let Some(node) = map.get_node("value") {
                    self.error(node.span(), "`value` belongs to `when: value` rules");
                }
                let to = self.word_list(map, "to");
                for status in &to {
                    if !["on_track", "at_risk", "off_track", "no_data"]
                        .contains(&status.value.as_str())
                    {
                        let message = format!(
                            "unknown status `{}`, expected at_risk, off_track, on_track or no_data",
                            status.value
                        );
                        self.diagnostics
                            .push(Diagnostic::error(Some(status.location.clone()), message));
                    }
                }
                AlertWhen::Status { to }
            }
            "value" => {
                if let Some(node) = map.get_node("to") {
                    self.error(node.span(), "`to` belongs to `when: status` rules");
                }
                AlertWhen::Value {
                    condition: self.required(map, "value", "a `when: value` rule")?,
                }
            }
            "anomaly" => {
                for key in ["to", "value"] {
                    if let Some(node) = map.get_node(key) {
                        self.error(
                            node.span(),
                            format!("`{key}` does not apply to `when: anomaly` rules"),
                        );
                    }
                }
                AlertWhen::Anomaly
            }
            other => {
                let message = format!("`when: {other}`: expected status, value or anomaly");
                self.diagnostics
                    .push(Diagnostic::error(Some(when.location.clone()), message));
                return None;
            }
        };
        let mut notify = Vec::new();
        match map.get_node("notify") {
            Some(Node::Sequence(items)) => {
                for item in items.iter() {
                    let Node::Mapping(target) = item else {
                        self.error(
                            item.span(),
                            "each `notify` item is `webhook: URL` or `email: [addresses]`",
                        );
                        continue;
                    };
                    self.check_keys(target, "a notify item", &["webhook", "email"]);
                    if let Some(url) = self.scalar(target, "webhook") {
                        if url.value.starts_with("https://") || url.value.starts_with("http://") {
                            notify.push(Notify::Webhook(url));
                        } else {
                            let message = format!(
                                "webhook `{}` must be an http:// or https:// URL",
                                url.value
                            );
                            self.diagnostics
                                .push(Diagnostic::error(Some(url.location), message));
                        }
                    }
                    if target.get_node("email").is_some() {
                        let addresses = match target.get_node("email") {
                            Some(Node::Scalar(s)) => vec![self.text(s)],
                            _ => self.word_list(target, "email"),
                        };
                        for a in &addresses {
                            if !a.value.contains('@') || a.value.chars().any(char::is_whitespace) {
                                let message = format!("`{}` is not an e-mail address", a.value);
                                self.diagnostics
                                    .push(Diagnostic::error(Some(a.location.clone()), message));
                            }
                        }
                        notify.push(Notify::Email(addresses));
                    }
                }
            }
            Some(other) => {
                self.error(
                    other.span(),
                    "`notify` must be a list of `webhook: URL` or `email: [addresses]`",
                );
            }
            None => self.error(
                map.span(),
                format!("alert rule `{}` has no `notify`", id.value),
            ),
        }
        Some(AlertRule {
            id,
            select,
            when,
            notify,
            file: self.rel.clone(),
        })
    }

    /// Whether `name` is a plain identifier — ASCII letters, digits and `_`, not starting with
    /// a digit — reporting it at its position when not. `what` is "a source name"; `why` says
    /// where the name ends up.
    fn plain_name(&mut self, name: &Text, what: &str, why: &str) -> bool {
        if is_plain_name(&name.value) {
            return true;
        }
        let message = format!(
            "{what} must be a plain name of letters, digits and `_`, starting with a letter or `_` ({why}), found `{}`",
            name.value.escape_debug()
        );
        self.diagnostics
            .push(Diagnostic::error(Some(name.location.clone()), message));
        false
    }

    fn threshold(&mut self, text: &Text) -> Option<Threshold> {
        let value = text.value.trim();
        if let Some(percent) = value.strip_suffix('%') {
            if let Ok(p) = percent.trim().parse::<f64>()
                && p.is_finite()
                && p >= 0.0
            {
                return Some(Threshold::OfTarget(p / 100.0));
            }
        } else if let Ok(v) = value.parse::<f64>()
            && v.is_finite()
        {
            return Some(Threshold::Absolute(v));
        }
        let message = format!(
            "`at_risk` must be a number or a share of the target like \"90%\", found `{value}`"
        );
        self.diagnostics
            .push(Diagnostic::error(Some(text.location.clone()), message));
        None
    }
}

/// ASCII letters, digits and `_`, starting with a letter or `_`: a name that is safe as a
/// path component, in a URL and in a formula.
pub fn is_plain_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What kind of special file `path` is (following symbolic links), or `None` for a regular
/// file or one that cannot be looked at (reading it then reports why).
fn special_file(path: &Path) -> Option<&'static str> {
    let file_type = std::fs::metadata(path).ok()?.file_type();
    if file_type.is_file() {
        return None;
    }
    if file_type.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return Some("a device");
        }
    }
    Some("a special file")
}

/// Checks a source's `file` as written: relative, without `..`, not leading out of the
/// workspace through a symbolic link, and — when it exists — a regular file. A file that does
/// not exist yet passes here; reading it reports that. The error names the value; the caller
/// adds the position.
pub fn data_file(root: &Path, written: &str) -> Result<PathBuf, String> {
    use std::path::Component;
    let path = Path::new(written);
    let inside = "a path inside the workspace, relative to it, like data/sales.csv";
    if path.has_root() || written.starts_with('\\') {
        return Err(format!("`file` must be {inside}, found `{written}`"));
    }
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "`file` must be {inside}; `..` is not allowed, found `{written}`"
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("`file` must be {inside}, found `{written}`"));
            }
        }
    }
    let full = root.join(path);
    if let (Ok(real), Ok(real_root)) = (std::fs::canonicalize(&full), std::fs::canonicalize(root))
        && !real.starts_with(&real_root)
    {
        return Err(format!(
            "`file` {written} leads outside the workspace through a symbolic link (to {}); keep data files inside the workspace",
            real.display()
        ));
    }
    if let Some(kind) = special_file(&full) {
        return Err(format!(
            "`file` {written} is {kind}, not a regular file; a source reads a CSV or Parquet file"
        ));
    }
    Ok(full)
}
