//! `tablero bench --engine postgres://…`: the generated invoices loaded into a table of that
//! database, and the workspace's `facturas` source pointed at it, so the catalog's invoice
//! aggregates run inside PostgreSQL (SPEC §9) while the other sources stay files.

use std::io::Read;
use std::path::Path;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::bench::BENCH_TABLE;
use crate::{EXIT_INTERNAL, EXIT_USER, Failure};

/// The variable holding the password of `--engine postgres://…` (as for a connection named
/// `bench`).
const PASSWORD: &str = "TABLERO_CONN_BENCH_PASSWORD";

/// Bytes of rows sent to the database at a time.
const CHUNK: usize = 1 << 20;

/// Loads the invoices of the workspace at `root` (its CSV or Parquet file) into
/// [`BENCH_TABLE`] of the database at `url`, replacing the table, and rewrites the workspace
/// to read them from there.
pub async fn load_invoices(root: &Path, url: &str) -> Result<(), Failure> {
    let failed = |e: sqlx::Error| Failure {
        code: EXIT_USER,
        message: format!("--engine {url}: {e}"),
    };
    let mut options: PgConnectOptions = url.parse().map_err(failed)?;
    if let Ok(password) = std::env::var(PASSWORD) {
        options = options.password(&password);
    }
    let mut db = PgConnection::connect_with(&options).await.map_err(failed)?;
    db.execute(AssertSqlSafe(format!("DROP TABLE IF EXISTS {BENCH_TABLE}")))
        .await
        .map_err(failed)?;
    db.execute(AssertSqlSafe(format!(
        "CREATE TABLE {BENCH_TABLE} (id bigint, cliente_id bigint, linea_servicio text, \
         tipo text, monto_neto double precision, emitida date)"
    )))
    .await
    .map_err(failed)?;
    let mut copy = db
        .copy_in_raw(&format!("COPY {BENCH_TABLE} FROM STDIN (FORMAT csv)"))
        .await
        .map_err(failed)?;
    let data = root.join("data");
    let csv = data.join("facturas.csv");
    let parquet = data.join("facturas.parquet");
    let sent = if csv.exists() {
        send_csv(&csv, &mut copy).await
    } else {
        send_parquet(&parquet, &mut copy).await
    };
    if let Err(e) = sent {
        let _ = copy.abort("the invoices could not be read").await;
        return Err(e);
    }
    copy.finish().await.map_err(failed)?;
    db.execute(AssertSqlSafe(format!("ANALYZE {BENCH_TABLE}")))
        .await
        .map_err(failed)?;
    db.close().await.map_err(failed)?;
    point_source_at_table(root, url)
}

type CopyIn<'c> = sqlx::postgres::PgCopyIn<&'c mut PgConnection>;

/// The CSV file as it is, without its header line.
async fn send_csv(path: &Path, copy: &mut CopyIn<'_>) -> Result<(), Failure> {
    let unreadable = |e: std::io::Error| internal(format!("{}: {e}", path.display()));
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(unreadable)?);
    let mut header = String::new();
    std::io::BufRead::read_line(&mut file, &mut header).map_err(unreadable)?;
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buffer).map_err(unreadable)?;
        if n == 0 {
            return Ok(());
        }
        copy.send(&buffer[..n])
            .await
            .map_err(|e| internal(format!("sending the invoices: {e}")))?;
    }
}

/// The Parquet file's rows as CSV; `emitida` (each invoice's local midnight, as an instant)
/// as the company's date.
async fn send_parquet(path: &Path, copy: &mut CopyIn<'_>) -> Result<(), Failure> {
    use arrow::array::{
        Array, AsArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use std::fmt::Write;
    let unreadable = |e: &dyn std::fmt::Display| internal(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| unreadable(&e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| unreadable(&e))?
        .build()
        .map_err(|e| unreadable(&e))?;
    let (workspace, _) =
        tablero_model::load_workspace(path.parent().and_then(Path::parent).unwrap_or(path));
    let zone = jiff::tz::TimeZone::get(&workspace.settings.timezone)
        .map_err(|e| internal(format!("the workspace's time zone: {e}")))?;
    let mut text = String::with_capacity(CHUNK + 256);
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(&e))?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| unreadable(&format!("no column `{name}`")))
        };
        let id = column("id")?.as_primitive_opt::<arrow::datatypes::Int64Type>();
        let client = column("cliente_id")?.as_primitive_opt::<arrow::datatypes::Int64Type>();
        let line = column("linea_servicio")?.as_string_opt::<i32>();
        let kind = column("tipo")?.as_string_opt::<i32>();
        let amount = column("monto_neto")?.as_primitive_opt::<arrow::datatypes::Float64Type>();
        let issued =
            column("emitida")?.as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>();
        let (Some(id), Some(client), Some(line), Some(kind), Some(amount), Some(issued)) =
            (id, client, line, kind, amount, issued)
        else {
            return Err(unreadable(&"the invoice columns have other types"));
        };
        let (id, client, amount): (&Int64Array, &Int64Array, &Float64Array) = (id, client, amount);
        let (line, kind, issued): (&StringArray, &StringArray, &TimestampMicrosecondArray) =
            (line, kind, issued);
        for row in 0..batch.num_rows() {
            if [
                id.is_null(row),
                client.is_null(row),
                line.is_null(row),
                kind.is_null(row),
                amount.is_null(row),
                issued.is_null(row),
            ]
            .contains(&true)
            {
                return Err(unreadable(&format!(
                    "an empty cell in row {row} of a batch"
                )));
            }
            let day = jiff::Timestamp::from_microsecond(issued.value(row))
                .map_err(|e| unreadable(&e))?
                .to_zoned(zone.clone())
                .date();
            let _ = writeln!(
                text,
                "{},{},{},{},{},{day}",
                id.value(row),
                client.value(row),
                line.value(row),
                kind.value(row),
                amount.value(row)
            );
            if text.len() >= CHUNK {
                copy.send(text.as_bytes())
                    .await
                    .map_err(|e| internal(format!("sending the invoices: {e}")))?;
                text.clear();
            }
        }
    }
    copy.send(text.as_bytes())
        .await
        .map_err(|e| internal(format!("sending the invoices: {e}")))?;
    Ok(())
}

/// `sources/facturas.yaml` reads the table through the connection `bench`.
fn point_source_at_table(root: &Path, url: &str) -> Result<(), Failure> {
    let source = root.join("sources/facturas.yaml");
    let toml = root.join("tablero.toml");
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| internal(format!("{}: {e}", p.display())))
    };
    let yaml: String = read(&source)?
        .lines()
        .map(|line| {
            if line.starts_with("file:") {
                format!("connection: bench\ntable: {BENCH_TABLE}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let settings = format!("{}\n[connections.bench]\nurl = \"{url}\"\n", read(&toml)?);
    for (path, text) in [(&source, yaml), (&toml, settings)] {
        std::fs::write(path, text).map_err(|e| internal(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

fn internal(message: String) -> Failure {
    Failure {
        code: EXIT_INTERNAL,
        message,
    }
}
