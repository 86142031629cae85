//! Talking to the external databases that sources read (SPEC §9): one pool per
//! `[connections.NAME]`, opened on first use with the password from the environment, TLS as
//! configured and a statement timeout; statements run with bound values only; the columns a
//! table really has, for `check --connections` and for reading its times correctly.
//!
//! This crate writes no SQL of its own beyond the catalog lookup of a table's columns: the
//! engine's PostgreSQL lowering hands it each statement and its values.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use futures::TryStreamExt;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{AssertSqlSafe, Row};
use tablero_model::{Connection, ConnectionTls, TableName};

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("connection `{connection}`: {message}")]
    Settings { connection: String, message: String },
    #[error("connection `{connection}`: {source}")]
    Database {
        connection: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "connection `{connection}`: table {table} does not exist (or this user may not read it)"
    )]
    NoTable { connection: String, table: String },
    #[error(
        "connection `{connection}`: a statement returned more than {limit} rows; ask for fewer periods or a dimension with fewer values"
    )]
    TooManyRows { connection: String, limit: usize },
}

impl ConnectionError {
    /// Whether the user can fix it (settings, a missing table, a request too large) rather than
    /// the machine or the database failing.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, ConnectionError::Database { .. })
    }
}

pub type Result<T> = std::result::Result<T, ConnectionError>;

/// A value bound to a statement's `$n`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Float(f64),
    Text(String),
    /// Bound as RFC 3339 text; the statement casts it (`$n::timestamptz`).
    Instant(Timestamp),
    Ints(Vec<i64>),
    /// Bound as a text array; the statement casts it (`$n::timestamptz[]`).
    Instants(Vec<Timestamp>),
    /// A local wall-clock time, bound as ISO 8601 text; the statement casts it
    /// (`$n::timestamp`).
    Wall(jiff::civil::DateTime),
    /// Bound as a text array; the statement casts it (`$n::timestamp[]`).
    Walls(Vec<jiff::civil::DateTime>),
}

/// One row a pushed-down leaf returns: period index, dimension value, aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafRow {
    pub idx: i64,
    pub dim: Option<String>,
    pub value: Option<f64>,
}

/// A column as the database declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// PostgreSQL's type name (`format_type`): `bigint`, `timestamp with time zone`, …
    pub ty: String,
}

/// The most rows one leaf may return (for a shared pass, rows × its leaves): a leaf is one row
/// per period and dimension value, so more means a request too large to hold, not a result.
pub const MAX_LEAF_ROWS: usize = 1_000_000;

/// The pools of a workspace's connections, each opened on first use.
pub struct Pools {
    connections: Vec<Connection>,
    pools: Mutex<HashMap<String, PgPool>>,
}

impl Pools {
    pub fn new(connections: &[Connection]) -> Pools {
        Pools {
            connections: connections.to_vec(),
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn pool(&self, name: &str) -> Result<PgPool> {
        let settings_error = |message: String| ConnectionError::Settings {
            connection: name.to_string(),
            message,
        };
        let mut pools = self
            .pools
            .lock()
            .map_err(|_| settings_error("its pool was poisoned by a failed thread".into()))?;
        if let Some(pool) = pools.get(name) {
            return Ok(pool.clone());
        }
        let connection = self
            .connections
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| settings_error("not declared in tablero.toml".into()))?;
        let mut options = PgConnectOptions::from_str(&connection.url)
            .map_err(|e| settings_error(format!("url: {e}")))?
            .ssl_mode(match connection.tls {
                ConnectionTls::Disable => PgSslMode::Disable,
                ConnectionTls::Prefer => PgSslMode::Prefer,
                ConnectionTls::Require => PgSslMode::Require,
                ConnectionTls::VerifyFull => PgSslMode::VerifyFull,
            })
            .application_name("tablero")
            .options([(
                "statement_timeout",
                format!("{}s", connection.statement_timeout),
            )]);
        if let Ok(password) = std::env::var(connection.password_variable()) {
            options = options.password(&password);
        }
        let pool = PgPoolOptions::new()
            .max_connections(connection.pool)
            .acquire_timeout(Duration::from_secs(15))
            .connect_lazy_with(options);
        pools.insert(name.to_string(), pool.clone());
        Ok(pool)
    }

    fn database_error(name: &str) -> impl Fn(sqlx::Error) -> ConnectionError + '_ {
        move |source| ConnectionError::Database {
            connection: name.to_string(),
            source,
        }
    }

    /// The columns of `table`, in order; [`ConnectionError::NoTable`] when it is not there.
    pub async fn columns(&self, name: &str, table: &TableName) -> Result<Vec<ColumnInfo>> {
        let pool = self.pool(name)?;
        let qualified = quoted_table(table);
        let rows = sqlx::query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(&qualified)
        .fetch_all(&pool)
        .await
        .map_err(Self::database_error(name))?;
        if rows.is_empty() {
            return Err(ConnectionError::NoTable {
                connection: name.to_string(),
                table: table.to_string(),
            });
        }
        rows.iter()
            .map(|row| {
                Ok(ColumnInfo {
                    name: row.try_get(0)?,
                    ty: row.try_get(1)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(Self::database_error(name))
    }

    /// Runs a leaf's statement: its rows are `(idx bigint, dim text, v double precision)`.
    pub async fn leaf_rows(&self, name: &str, sql: &str, values: &[Value]) -> Result<Vec<LeafRow>> {
        let pool = self.pool(name)?;
        let mut query = sqlx::query(AssertSqlSafe(sql.to_string()));
        for value in values {
            query = bind(query, value);
        }
        let mut stream = query.fetch(&pool);
        let mut rows = Vec::new();
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(Self::database_error(name))?
        {
            if rows.len() == MAX_LEAF_ROWS {
                return Err(ConnectionError::TooManyRows {
                    connection: name.to_string(),
                    limit: MAX_LEAF_ROWS,
                });
            }
            rows.push(leaf_row(&row).map_err(Self::database_error(name))?);
        }
        Ok(rows)
    }

    /// Runs a shared pass's statement: its rows are `(idx, d, v0, n0, v1, n1, …)` for
    /// `leaves` leaves; each leaf's rows are those where it read any (`n > 0`).
    pub async fn pass_rows(
        &self,
        name: &str,
        sql: &str,
        values: &[Value],
        leaves: usize,
    ) -> Result<Vec<Vec<LeafRow>>> {
        let pool = self.pool(name)?;
        let mut query = sqlx::query(AssertSqlSafe(sql.to_string()));
        for value in values {
            query = bind(query, value);
        }
        let mut stream = query.fetch(&pool);
        let mut rows = vec![Vec::new(); leaves];
        let mut read = 0;
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(Self::database_error(name))?
        {
            read += 1;
            if read * leaves.max(1) > MAX_LEAF_ROWS {
                return Err(ConnectionError::TooManyRows {
                    connection: name.to_string(),
                    limit: MAX_LEAF_ROWS,
                });
            }
            let mut decode = || -> std::result::Result<(), sqlx::Error> {
                let idx: i64 = row.try_get(0)?;
                let dim: Option<String> = row.try_get(1)?;
                for (j, leaf_rows) in rows.iter_mut().enumerate() {
                    let n: i64 = row.try_get(3 + 2 * j)?;
                    if n > 0 {
                        leaf_rows.push(LeafRow {
                            idx,
                            dim: dim.clone(),
                            value: row.try_get(2 + 2 * j)?,
                        });
                    }
                }
                Ok(())
            };
            decode().map_err(Self::database_error(name))?;
        }
        Ok(rows)
    }

    /// Closes every pool (waits for connections in use).
    pub async fn close(&self) {
        let pools: Vec<PgPool> = match self.pools.lock() {
            Ok(pools) => pools.values().cloned().collect(),
            Err(_) => return,
        };
        for pool in pools {
            pool.close().await;
        }
    }
}

/// A wall-clock time as PostgreSQL reads it: before year 1 (a window reaching back to the
/// beginning of time) it has no year-0 form, and `-infinity` precedes every stored value.
fn wall_text(w: jiff::civil::DateTime) -> String {
    if w.year() < 1 {
        "-infinity".to_string()
    } else {
        w.to_string()
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind<'q>(query: PgQuery<'q>, value: &Value) -> PgQuery<'q> {
    match value {
        Value::Float(x) => query.bind(*x),
        Value::Text(s) => query.bind(s.clone()),
        Value::Instant(t) => query.bind(t.to_string()),
        Value::Ints(xs) => query.bind(xs.clone()),
        Value::Instants(ts) => query.bind(ts.iter().map(|t| t.to_string()).collect::<Vec<_>>()),
        Value::Wall(w) => query.bind(wall_text(*w)),
        Value::Walls(ws) => query.bind(ws.iter().map(|w| wall_text(*w)).collect::<Vec<_>>()),
    }
}

fn leaf_row(row: &PgRow) -> std::result::Result<LeafRow, sqlx::Error> {
    Ok(LeafRow {
        idx: row.try_get(0)?,
        dim: row.try_get(1)?,
        value: row.try_get(2)?,
    })
}

/// A PostgreSQL identifier, always quoted: `"a ""b"""`.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`, every part quoted.
pub fn quoted_table(table: &TableName) -> String {
    match &table.schema {
        Some(schema) => format!(
            "{}.{}",
            quote_identifier(schema),
            quote_identifier(&table.name)
        ),
        None => quote_identifier(&table.name),
    }
}

/// Whether a column declared `declared` can be read from a PostgreSQL column of `pg_type`
/// (`format_type`'s name) with the same meaning.
pub fn compatible(declared: tablero_model::ColumnType, pg_type: &str) -> bool {
    use tablero_model::ColumnType;
    let base = pg_type.split('(').next().unwrap_or(pg_type).trim();
    let integer = matches!(base, "smallint" | "integer" | "bigint");
    match declared {
        ColumnType::String => matches!(
            base,
            "text" | "character varying" | "character" | "name" | "citext"
        ),
        ColumnType::Integer => integer,
        ColumnType::Number => integer || matches!(base, "double precision" | "real" | "numeric"),
        ColumnType::Boolean => base == "boolean",
        ColumnType::Date | ColumnType::Timestamp => {
            base == "date" || pg_type.starts_with("timestamp")
        }
    }
}

/// `tablero check --connections`: connects to each database a source reads and checks that its
/// table exists and has every declared column with a compatible type. Problems are errors at
/// the source's file and line.
pub async fn check(workspace: &tablero_model::Workspace) -> Vec<tablero_model::Diagnostic> {
    use tablero_model::{Diagnostic, SourceData};
    let pools = Pools::new(&workspace.settings.connections);
    let mut diagnostics = Vec::new();
    for source in &workspace.sources {
        let SourceData::Table { connection, table } = &source.data else {
            continue;
        };
        let columns = match pools.columns(&connection.value, table).await {
            Ok(columns) => columns,
            Err(err) => {
                diagnostics.push(Diagnostic::error(
                    Some(connection.location.clone()),
                    format!("source `{}`: {err}", source.name.value),
                ));
                continue;
            }
        };
        for column in &source.columns {
            let message = match columns.iter().find(|c| c.name == column.name) {
                None => {
                    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                    format!(
                        "column `{}` is not in table {table} (its columns: {})",
                        column.name,
                        names.join(", ")
                    )
                }
                Some(found) if !compatible(column.ty, &found.ty) => format!(
                    "column `{}` is declared {} but is {} in table {table}",
                    column.name,
                    column.ty.as_str(),
                    found.ty
                ),
                Some(_) => continue,
            };
            diagnostics.push(Diagnostic::error(Some(column.location.clone()), message));
        }
    }
    pools.close().await;
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;
    use tablero_model::ColumnType::*;

    #[test]
    fn declared_types_accept_the_database_types_with_their_meaning() {
        let cases = [
            (String, "text", true),
            (String, "character varying(40)", true),
            (String, "bigint", false),
            (Integer, "integer", true),
            (Integer, "double precision", false),
            (Number, "numeric(12,2)", true),
            (Number, "bigint", true),
            (Number, "text", false),
            (Boolean, "boolean", true),
            (Boolean, "integer", false),
            (Date, "date", true),
            (Timestamp, "timestamp with time zone", true),
            (Timestamp, "timestamp(3) without time zone", true),
            (Timestamp, "text", false),
        ];
        for (declared, pg, expected) in cases {
            assert_eq!(compatible(declared, pg), expected, "{declared:?} vs {pg}");
        }
    }

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(quote_identifier("a"), "\"a\"");
        assert_eq!(
            quote_identifier("x\"; drop table t; --"),
            "\"x\"\"; drop table t; --\""
        );
        let table = TableName::parse("\"Ventas 2026\".\"Fac\"\"turas\"").unwrap();
        assert_eq!(quoted_table(&table), "\"Ventas 2026\".\"Fac\"\"turas\"");
        assert_eq!(
            quoted_table(&TableName::parse("public.invoices").unwrap()),
            "\"public\".\"invoices\""
        );
        // Unquoted parts fold to lower case as PostgreSQL reads them; quoted ones stay.
        assert_eq!(
            quoted_table(&TableName::parse("Public.\"Invoices\"").unwrap()),
            "\"public\".\"Invoices\""
        );
        for bad in ["", ".", "a.", ".a", "a.b.c", "\"a", "\"\"", "\"a\"b"] {
            assert_eq!(TableName::parse(bad), None, "{bad}");
        }
    }
}
