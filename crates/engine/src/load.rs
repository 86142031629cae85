//! Loading a source's rows into DataFusion with the types its YAML declares.
//!
//! CSV files are read by Tablero itself, so that delimiters, decimal commas, a UTF-8 BOM,
//! strftime date formats and local times in the workspace time zone are honoured exactly, and
//! a cell that does not parse is reported with its file, line and column. Parquet files are
//! read by DataFusion and cast to the declared types. Either way every `date` and `timestamp`
//! column becomes an instant: microseconds since the Unix epoch, UTC.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext, cast, col};
use jiff::civil::{Date, DateTime};
use tablero_calendar::Calendar;
use tablero_model::{Column, ColumnType, CsvOptions, Source, SourceData};

use crate::error::{EngineError, Result};

/// The Arrow type a declared column is loaded as.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::String => DataType::Utf8,
        ColumnType::Integer => DataType::Int64,
        ColumnType::Number => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Date | ColumnType::Timestamp => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
    }
}

pub fn source_schema(source: &Source) -> SchemaRef {
    let fields: Vec<Field> = source
        .columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.ty), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// Registers `source` in `ctx` under its name.
pub async fn register_source(
    ctx: &SessionContext,
    root: &Path,
    source: &Source,
    calendar: &Calendar,
) -> Result<()> {
    let name = source.name.value.as_str();
    let SourceData::File(rel) = &source.data else {
        return Err(EngineError::User(format!(
            "{}: source `{name}` keeps its rows in the store, which this build cannot read yet",
            source.file.display()
        )));
    };
    let path = root.join(rel);
    let is_parquet = rel
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if is_parquet {
        register_parquet(
            ctx,
            &path,
            rel,
            source,
            calendar.time_zone().iana_name().unwrap_or("UTC"),
        )
        .await
    } else {
        let bytes = std::fs::read(&path).map_err(|err| {
            EngineError::User(format!(
                "{}: cannot read {} for source `{name}`: {err}",
                source.file.display(),
                rel.display()
            ))
        })?;
        let batches = read_csv(&bytes, &rel.display().to_string(), source, calendar)?;
        let schema = source_schema(source);
        let table = MemTable::try_new(schema, split_partitions(batches))?;
        ctx.register_table(name, Arc::new(table))?;
        Ok(())
    }
}

/// Spreads batches over two partitions so both cores work.
fn split_partitions(batches: Vec<RecordBatch>) -> Vec<Vec<RecordBatch>> {
    let mut parts = vec![Vec::new(), Vec::new()];
    for (i, batch) in batches.into_iter().enumerate() {
        parts[i % 2].push(batch);
    }
    parts
}

async fn register_parquet(
    ctx: &SessionContext,
    path: &Path,
    rel: &Path,
    source: &Source,
    time_zone: &str,
) -> Result<()> {
    let path_text = path.to_string_lossy().to_string();
    let frame = ctx
        .read_parquet(path_text, ParquetReadOptions::default())
        .await
        .map_err(|err| {
            EngineError::User(format!(
                "{}: cannot read Parquet file: {err}",
                rel.display()
            ))
        })?;
    let schema = frame.schema().clone();
    let mut projection = Vec::new();
    for column in &source.columns {
        let Some((_, field)) = schema
            .qualified_field_with_unqualified_name(&column.name)
            .ok()
        else {
            return Err(EngineError::User(format!(
                "{}: column `{}` declared in {} is not in the file",
                rel.display(),
                column.name,
                source.file.display()
            )));
        };
        let target = arrow_type(column.ty);
        let source_column = || col(datafusion::common::Column::from_name(&column.name));
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        let expr = match (field.data_type(), column.ty) {
            // A date, or a timestamp without zone, is a local time (SPEC §2): Arrow reads a
            // zone-less value cast to a zone as local time there, then keeps the instant.
            (
                DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64,
                ColumnType::Date | ColumnType::Timestamp,
            ) => {
                let zone = DataType::Timestamp(TimeUnit::Microsecond, Some(time_zone.into()));
                cast(cast(cast(source_column(), micros.clone()), zone), micros)
            }
            (DataType::Timestamp(_, Some(_)), ColumnType::Date | ColumnType::Timestamp) => {
                cast(source_column(), micros)
            }
            (other, ColumnType::Date | ColumnType::Timestamp) => {
                return Err(EngineError::User(format!(
                    "{}: column `{}` is {other} in the file, expected a Parquet date or timestamp",
                    rel.display(),
                    column.name
                )));
            }
            _ => cast(source_column(), target),
        };
        projection.push(expr.alias(&column.name));
    }
    let frame = frame.select(projection)?;
    ctx.register_table(source.name.value.as_str(), frame.into_view())?;
    Ok(())
}

const BATCH_ROWS: usize = 64 * 1024;

/// Parses a CSV file's bytes into batches of the source's declared schema.
pub fn read_csv(
    bytes: &[u8],
    file: &str,
    source: &Source,
    calendar: &Calendar,
) -> Result<Vec<RecordBatch>> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(source.csv.delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|err| EngineError::User(format!("{file}:1: cannot read the header: {err}")))?
        .clone();
    let mut indexes = Vec::new();
    for column in &source.columns {
        match header.iter().position(|h| h.trim() == column.name) {
            Some(i) => indexes.push(i),
            None => {
                return Err(EngineError::User(format!(
                    "{file}:1: column `{}` declared in {} is missing from the header (found: {})",
                    column.name,
                    source.file.display(),
                    header.iter().collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    let schema = source_schema(source);
    let mut batches = Vec::new();
    let mut builders = new_builders(&source.columns);
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map(|p| p.line()).unwrap_or(0);
                return Err(EngineError::User(format!(
                    "{file}:{line}: malformed CSV row: {err}"
                )));
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        for ((column, &index), builder) in
            source.columns.iter().zip(&indexes).zip(builders.iter_mut())
        {
            let cell = record.get(index).unwrap_or("");
            builder
                .push(cell, column, &source.csv, calendar)
                .map_err(|expected| {
                    EngineError::User(format!(
                        "{file}:{line}: column '{}': expected {expected}, found '{}'",
                        column.name, cell
                    ))
                })?;
        }
        if builders[0].len() >= BATCH_ROWS {
            batches.push(finish(&schema, &mut builders)?);
        }
    }
    if builders.first().is_some_and(|b| b.len() > 0) || batches.is_empty() {
        batches.push(finish(&schema, &mut builders)?);
    }
    Ok(batches)
}

fn finish(schema: &SchemaRef, builders: &mut [CellBuilder]) -> Result<RecordBatch> {
    let arrays: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

fn new_builders(columns: &[Column]) -> Vec<CellBuilder> {
    columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::String => CellBuilder::String(StringBuilder::new()),
            ColumnType::Integer => CellBuilder::Integer(Int64Builder::new()),
            ColumnType::Number => CellBuilder::Number(Float64Builder::new()),
            ColumnType::Boolean => CellBuilder::Boolean(BooleanBuilder::new()),
            ColumnType::Date | ColumnType::Timestamp => {
                CellBuilder::Time(TimestampMicrosecondBuilder::new())
            }
        })
        .collect()
}

enum CellBuilder {
    String(StringBuilder),
    Integer(Int64Builder),
    Number(Float64Builder),
    Boolean(BooleanBuilder),
    Time(TimestampMicrosecondBuilder),
}

impl CellBuilder {
    fn len(&self) -> usize {
        match self {
            CellBuilder::String(b) => b.len(),
            CellBuilder::Integer(b) => b.len(),
            CellBuilder::Number(b) => b.len(),
            CellBuilder::Boolean(b) => b.len(),
            CellBuilder::Time(b) => b.len(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            CellBuilder::String(b) => Arc::new(b.finish()),
            CellBuilder::Integer(b) => Arc::new(b.finish()),
            CellBuilder::Number(b) => Arc::new(b.finish()),
            CellBuilder::Boolean(b) => Arc::new(b.finish()),
            CellBuilder::Time(b) => Arc::new(b.finish()),
        }
    }

    /// Appends one cell; on failure returns what was expected.
    fn push(
        &mut self,
        cell: &str,
        column: &Column,
        csv: &CsvOptions,
        calendar: &Calendar,
    ) -> Result<(), String> {
        let text = cell.trim();
        if let CellBuilder::String(b) = self {
            if cell.is_empty() {
                b.append_null();
            } else {
                b.append_value(cell);
            }
            return Ok(());
        }
        if text.is_empty() {
            match self {
                CellBuilder::String(b) => b.append_null(),
                CellBuilder::Integer(b) => b.append_null(),
                CellBuilder::Number(b) => b.append_null(),
                CellBuilder::Boolean(b) => b.append_null(),
                CellBuilder::Time(b) => b.append_null(),
            }
            return Ok(());
        }
        match self {
            CellBuilder::String(_) => {}
            CellBuilder::Integer(b) => {
                b.append_value(
                    text.parse::<i64>()
                        .map_err(|_| "a whole number".to_string())?,
                );
            }
            CellBuilder::Number(b) => b.append_value(parse_number(text, csv.decimal)?),
            CellBuilder::Boolean(b) => b.append_value(match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "t" => true,
                "false" | "0" | "no" | "f" => false,
                _ => return Err("true or false".to_string()),
            }),
            CellBuilder::Time(b) => {
                let instant = parse_time(text, column, calendar)?;
                b.append_value(instant.as_microsecond());
            }
        }
        Ok(())
    }
}

/// A number with `.` or `,` as the decimal mark; never infinite or NaN.
pub fn parse_number(text: &str, decimal: char) -> Result<f64, String> {
    let expected = || {
        if decimal == ',' {
            "a number with a decimal comma, like 1234,5".to_string()
        } else {
            "a number, like 1234.5".to_string()
        }
    };
    let normal;
    let text = if decimal == ',' {
        if text.contains('.') {
            return Err(expected());
        }
        normal = text.replace(',', ".");
        normal.as_str()
    } else {
        text
    };
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return Err(expected());
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(expected()),
    }
}

/// A date or timestamp cell as an instant (SPEC §2: no offset means local time).
pub fn parse_time(
    text: &str,
    column: &Column,
    calendar: &Calendar,
) -> Result<jiff::Timestamp, String> {
    let is_date = column.ty == ColumnType::Date;
    if let Some(format) = &column.format {
        let expected = || format!("a {} in the format \"{format}\"", column.ty.as_str());
        let parsed = jiff::fmt::strtime::parse(format, text).map_err(|_| expected())?;
        if !is_date && let Ok(ts) = parsed.to_timestamp() {
            return Ok(ts);
        }
        if !is_date && let Ok(dt) = parsed.to_datetime() {
            return Ok(calendar.local_instant(dt));
        }
        let date = parsed.to_date().map_err(|_| expected())?;
        return Ok(calendar.date_start(date));
    }
    if is_date {
        let date: Date = text
            .parse()
            .map_err(|_| "a date like 2026-01-31".to_string())?;
        return Ok(calendar.date_start(date));
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = text.parse::<DateTime>() {
        return Ok(calendar.local_instant(dt));
    }
    if text.len() == 10
        && let Ok(date) = text.parse::<Date>()
    {
        return Ok(calendar.date_start(date));
    }
    Err("a timestamp like 2026-01-31T23:30:00Z, 2026-01-31T20:30:00-03:00 or 2026-01-31 20:30:00 (local)".to_string())
}
