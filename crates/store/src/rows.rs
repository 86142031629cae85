//! Rows from outside — CSV, NDJSON, JSON arrays, Parquet, spreadsheets — read into Arrow
//! batches of the types a source declares.
//!
//! Every cell is checked against its column: a value that does not fit is reported with the
//! file, the row (the line for text formats, the sheet row for spreadsheets) and the column,
//! and the whole input is rejected. CSV honours the source's delimiter and decimal mark, a
//! UTF-8 BOM and strftime formats; a date or timestamp without an offset is a local time in
//! the workspace time zone (SPEC §2).
//!
//! Two layouts exist. The engine reads every `date` and `timestamp` as an instant
//! ([`Layout::Instants`]); the store keeps a `date` as a calendar date and a `timestamp` as a
//! UTC instant ([`Layout::Stored`]), the Delta Lake types other readers understand.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use calamine::Data;

use deltalake::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanBuilder, Date32Builder, Float64Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use jiff::civil::{Date, DateTime};
use tablero_calendar::Calendar;
use tablero_model::{Column, ColumnType, CsvOptions, Source};

use crate::error::{Result, StoreError};

/// Rows per Arrow batch.
const BATCH_ROWS: usize = 64 * 1024;
/// How much of a bad cell an error message quotes.
const QUOTE_CHARS: usize = 60;

/// How `date` and `timestamp` columns are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Both as instants: UTC microseconds, no zone attached (the engine's layout).
    Instants,
    /// `date` as `Date32`, `timestamp` as UTC microseconds (the store's layout).
    Stored,
}

/// The formats rows arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
    Json,
    Parquet,
    Spreadsheet,
}

impl Format {
    /// The format a file's extension names.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" | "txt" => Format::Csv,
            "ndjson" | "jsonl" => Format::Ndjson,
            "json" => Format::Json,
            "parquet" => Format::Parquet,
            "xlsx" | "xlsm" | "xls" | "ods" => Format::Spreadsheet,
            _ => return None,
        })
    }

    /// The format an HTTP `Content-Type` names (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "text/csv" => Format::Csv,
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Format::Ndjson,
            "application/json" => Format::Json,
            _ => return None,
        })
    }
}

/// What to read and how.
pub struct Input<'a> {
    pub bytes: &'a [u8],
    pub format: Format,
    /// The name errors use for the input: a file path, or `request body`.
    pub label: &'a str,
    /// For spreadsheets: the sheet to read (default: the first).
    pub sheet: Option<&'a str>,
}

/// The Arrow type a declared column has in `layout`.
pub fn arrow_type(ty: ColumnType, layout: Layout) -> DataType {
    match (ty, layout) {
        (ColumnType::String, _) => DataType::Utf8,
        (ColumnType::Integer, _) => DataType::Int64,
        (ColumnType::Number, _) => DataType::Float64,
        (ColumnType::Boolean, _) => DataType::Boolean,
        (ColumnType::Date, Layout::Stored) => DataType::Date32,
        (ColumnType::Timestamp, Layout::Stored) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        (ColumnType::Date | ColumnType::Timestamp, Layout::Instants) => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
    }
}

/// The schema of a source's rows in `layout`; every column may be null.
pub fn schema(source: &Source, layout: Layout) -> SchemaRef {
    let fields: Vec<Field> = source
        .columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.ty, layout), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// Reads an ingested batch: every declared column must be present and no other.
pub fn read(
    input: &Input,
    source: &Source,
    calendar: &Calendar,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<RecordBatch>> {
    let mut rows = Rows::new(source, calendar, Layout::Stored, input.label);
    match input.format {
        Format::Csv => read_csv_into(&mut rows, input.bytes, true, progress)?,
        Format::Ndjson => read_ndjson(&mut rows, input.bytes, progress)?,
        Format::Json => read_json_array(&mut rows, input.bytes)?,
        Format::Parquet => read_parquet(&mut rows, input.bytes)?,
        Format::Spreadsheet => read_spreadsheet(&mut rows, input.bytes, input.sheet)?,
    }
    rows.finish()
}

/// Whether `text`, as a person typed it in a form's field, is a value of `column` (blank is
/// null, and fits any column); `Err` says what was expected, in the words a batch's error
/// uses.
pub fn check_text(
    text: &str,
    column: &Column,
    csv: &CsvOptions,
    calendar: &Calendar,
) -> std::result::Result<(), String> {
    CellBuilder::new(column.ty, Layout::Stored).push(&Cell::Text(text), column, csv, calendar)
}

/// Reads a source's CSV file for the engine: extra columns are ignored, every declared one
/// must be in the header, and times become instants.
pub fn read_csv(
    bytes: &[u8],
    label: &str,
    source: &Source,
    calendar: &Calendar,
) -> Result<Vec<RecordBatch>> {
    let mut rows = Rows::new(source, calendar, Layout::Instants, label);
    read_csv_into(&mut rows, bytes, false, &mut |_| {})?;
    rows.finish()
}

/// Typed column builders for one source, filled row by row.
struct Rows<'a> {
    source: &'a Source,
    calendar: &'a Calendar,
    layout: Layout,
    label: &'a str,
    schema: SchemaRef,
    builders: Vec<CellBuilder>,
    batches: Vec<RecordBatch>,
}

impl<'a> Rows<'a> {
    fn new(source: &'a Source, calendar: &'a Calendar, layout: Layout, label: &'a str) -> Self {
        Rows {
            source,
            calendar,
            layout,
            label,
            schema: schema(source, layout),
            builders: source
                .columns
                .iter()
                .map(|c| CellBuilder::new(c.ty, layout))
                .collect(),
            batches: Vec::new(),
        }
    }

    fn columns(&self) -> &'a [Column] {
        &self.source.columns
    }

    /// An error at `row` (a line, or a sheet or record number, as `where_` says).
    fn error(&self, where_: &str, message: impl std::fmt::Display) -> StoreError {
        let separator = if where_.starts_with(|c: char| c.is_ascii_digit()) {
            ":"
        } else {
            ": "
        };
        StoreError::Input(format!("{}{separator}{where_}: {message}", self.label))
    }

    /// Maps a header to column positions; `strict` rejects unknown names.
    fn header_positions<'h>(
        &self,
        header: impl Iterator<Item = &'h str>,
        strict: bool,
        where_: &str,
    ) -> Result<Vec<usize>> {
        let names: Vec<&str> = header.map(str::trim).collect();
        if strict {
            let mut seen = HashSet::new();
            for name in &names {
                if !seen.insert(*name) {
                    return Err(self.error(where_, format!("column '{name}' appears twice")));
                }
                if self.source.column(name).is_none() {
                    return Err(self.error(
                        where_,
                        format!(
                            "unknown column '{name}'; source `{}` declares: {}",
                            self.source.name.value,
                            self.declared()
                        ),
                    ));
                }
            }
        }
        self.columns()
            .iter()
            .map(|column| {
                names.iter().position(|h| *h == column.name).ok_or_else(|| {
                    self.error(
                        where_,
                        format!(
                            "column '{}' declared in {} is missing (found: {})",
                            column.name,
                            self.source.file.display(),
                            names.join(", ")
                        ),
                    )
                })
            })
            .collect()
    }

    fn declared(&self) -> String {
        self.columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `where_` is written out only for an error: a line number is not formatted for every
    /// cell of a large file.
    fn push(&mut self, index: usize, cell: Cell, where_: impl std::fmt::Display) -> Result<()> {
        let column = &self.source.columns[index];
        let result = self.builders[index].push(&cell, column, &self.source.csv, self.calendar);
        result.map_err(|expected| {
            self.error(
                &where_.to_string(),
                format!(
                    "column '{}': expected {expected}, found {}",
                    column.name,
                    cell.quote()
                ),
            )
        })
    }

    /// Closes a row: cuts a batch when enough rows have gathered.
    fn end_row(&mut self) -> Result<()> {
        if self.builders.first().is_some_and(|b| b.len() >= BATCH_ROWS) {
            self.cut()?;
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<()> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|err| StoreError::Internal(err.to_string()))?;
        self.batches.push(batch);
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<RecordBatch>> {
        if self.builders.first().is_some_and(|b| b.len() > 0) || self.batches.is_empty() {
            self.cut()?;
        }
        self.batches.retain(|b| b.num_rows() > 0);
        Ok(self.batches)
    }
}

/// Below this many bytes of rows, a CSV file is read on one thread.
const PARALLEL_CSV_BYTES: usize = 4 << 20;

fn read_csv_into(
    rows: &mut Rows,
    bytes: &[u8],
    strict: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(rows.error(
            "1",
            "the file is empty; expected a header naming the columns",
        ));
    }
    let delimiter = rows.source.csv.delimiter;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|err| rows.error("1", format!("cannot read the header: {err}")))?
        .clone();
    let positions = rows.header_positions(header.iter(), strict, "1")?;
    let start = usize::try_from(reader.position().byte())
        .unwrap_or(bytes.len())
        .min(bytes.len());
    let chunks = csv_chunks(bytes, start);
    if chunks.len() == 1 {
        let fields = header.len();
        read_csv_records(rows, &mut reader, (&positions, fields), 0, &mut |done| {
            progress(done)
        })?;
        progress(bytes.len() as u64);
        return Ok(());
    }
    // Large and without quoted fields: cut at line ends and read the pieces at once, each
    // into builders of its own, then keep their batches in the file's order.
    let done: Vec<std::sync::atomic::AtomicU64> = chunks
        .iter()
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    let total = || {
        done.iter()
            .map(|d| d.load(std::sync::atomic::Ordering::Relaxed))
            .sum::<u64>()
    };
    let (source, calendar, layout, label) = (rows.source, rows.calendar, rows.layout, rows.label);
    let read_piece =
        |index: usize, lines_before: u64, report: &mut dyn FnMut()| -> Result<Vec<RecordBatch>> {
            let (from, to) = chunks[index];
            let mut piece = Rows::new(source, calendar, layout, label);
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                // The header sets the number of fields, not a piece's first row (checked below).
                .flexible(true)
                .from_reader(&bytes[from..to]);
            let fields = header.len();
            read_csv_records(
                &mut piece,
                &mut reader,
                (&positions, fields),
                lines_before,
                &mut |at| {
                    done[index].store(at, std::sync::atomic::Ordering::Relaxed);
                    report();
                },
            )?;
            piece.finish()
        };
    // Line numbers only matter in an error: a piece is read counting its own lines, and read
    // again counting the file's (the newlines before it, the header's included) only when it
    // has one to report.
    let read = |index: usize, report: &mut dyn FnMut()| -> Result<Vec<RecordBatch>> {
        match read_piece(index, 0, report) {
            Err(_) => {
                let lines_before = newlines(&bytes[..chunks[index].0]);
                read_piece(index, lines_before, &mut || {})
            }
            read => read,
        }
    };
    let results: Vec<Result<Vec<RecordBatch>>> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..chunks.len())
            .map(|index| scope.spawn(move || read(index, &mut || {})))
            .collect();
        let first = read(0, &mut || progress(total()));
        let mut results = vec![first];
        for other in others {
            results.push(other.join().unwrap_or_else(|_| {
                Err(StoreError::Internal(
                    "a thread reading CSV rows stopped".into(),
                ))
            }));
        }
        results
    });
    for result in results {
        rows.batches.extend(result?);
    }
    progress(bytes.len() as u64);
    Ok(())
}

/// The byte ranges of a CSV file's rows to read at once: cut after line ends, one per core,
/// when the rows are large enough and no field is quoted (a line end inside quotes is not
/// the end of a row). Otherwise one range, `[start, len)`.
fn csv_chunks(bytes: &[u8], start: usize) -> Vec<(usize, usize)> {
    let body = &bytes[start..];
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if cores < 2 || body.len() < PARALLEL_CSV_BYTES || body.contains(&b'"') {
        return vec![(start, bytes.len())];
    }
    let mut cuts = vec![start];
    for k in 1..cores {
        let aim = start + body.len() * k / cores;
        let last = *cuts.last().unwrap_or(&start);
        if aim <= last {
            continue;
        }
        if let Some(end) = bytes[aim..].iter().position(|b| *b == b'\n') {
            let cut = aim + end + 1;
            if cut < bytes.len() {
                cuts.push(cut);
            }
        }
    }
    cuts.push(bytes.len());
    cuts.windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|(a, b)| a < b)
        .collect()
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Reads rows of `reader` into `rows`: the cells at `positions`, in rows of `fields` fields.
/// Line numbers in errors are the reader's plus `lines_before`. `progress` hears the bytes
/// read, about every MiB.
fn read_csv_records(
    rows: &mut Rows,
    reader: &mut csv::Reader<&[u8]>,
    (positions, fields): (&[usize], usize),
    lines_before: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut record = csv::StringRecord::new();
    let mut reported = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map(|p| p.line()).unwrap_or(0) + lines_before;
                return Err(rows.error(&line.to_string(), format!("malformed CSV row: {err}")));
            }
        }
        let position = record.position();
        let line = position.map(|p| p.line()).unwrap_or(0) + lines_before;
        if record.len() != fields {
            return Err(rows.error(
                &line.to_string(),
                format!(
                    "malformed CSV row: found a row with {} fields, but the header has {fields}",
                    record.len()
                ),
            ));
        }
        for (index, &at) in positions.iter().enumerate() {
            let cell = record.get(at).unwrap_or("");
            rows.push(index, Cell::Text(cell), line)?;
        }
        rows.end_row()?;
        let offset = position.map(|p| p.byte()).unwrap_or(0);
        if offset - reported >= 1 << 20 {
            progress(offset);
            reported = offset;
        }
    }
    Ok(())
}

fn read_ndjson(rows: &mut Rows, bytes: &[u8], progress: &mut dyn FnMut(u64)) -> Result<()> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let mut offset = 0u64;
    let mut reported = 0u64;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        offset += line.len() as u64 + 1;
        let where_ = (i + 1).to_string();
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let row: JsonRow = serde_json::from_slice(line).map_err(|err| {
            rows.error(&where_, format!("expected one JSON object per line: {err}"))
        })?;
        push_json_row(rows, &row, &where_)?;
        if offset - reported >= 1 << 20 {
            progress(offset);
            reported = offset;
        }
    }
    progress(bytes.len() as u64);
    Ok(())
}

/// A JSON array of objects, read one object at a time: no tree of the whole body is built,
/// so a large body costs its rows' builders and one row, not a `serde_json::Value` per value.
fn read_json_array(rows: &mut Rows, bytes: &[u8]) -> Result<()> {
    use serde::Deserializer as _;
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'[') {
        return Err(rows.error("1", "expected a JSON array of objects, one per row"));
    }
    let mut rejected = None;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let visitor = JsonArrayVisitor {
        rows: &mut *rows,
        rejected: &mut rejected,
    };
    let result = deserializer
        .deserialize_any(visitor)
        .and_then(|()| deserializer.end());
    if let Some(err) = rejected {
        return Err(err);
    }
    result.map_err(|err| {
        rows.error(
            &err.line().max(1).to_string(),
            format!("expected a JSON array of objects: {err}"),
        )
    })
}

/// Visits the top-level array, pushing each element as a row as soon as it is read. A row's
/// error is kept in `rejected` and stops the reading.
struct JsonArrayVisitor<'r, 'a> {
    rows: &'r mut Rows<'a>,
    rejected: &'r mut Option<StoreError>,
}

impl<'de> serde::de::Visitor<'de> for JsonArrayVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects, one per row")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        let mut index = 0usize;
        while let Some(row) = seq.next_element::<JsonRow>()? {
            index += 1;
            if let Err(err) = push_json_row(self.rows, &row, &format!("row {index}")) {
                *self.rejected = Some(err);
                return Err(serde::de::Error::custom("a row was rejected"));
            }
        }
        Ok(())
    }
}

/// One JSON value where a row belongs: an object's entries as written, or anything else.
enum JsonRow {
    Object(Vec<(String, JsonCell)>),
    NotObject,
}

/// One value of a row object. Arrays and objects are skipped over, not built: they are only
/// ever an error, and one deep or huge value must not cost a tree.
enum JsonCell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Array,
    Object,
}

impl<'de> serde::Deserialize<'de> for JsonRow {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<JsonRow, D::Error> {
        struct RowVisitor;
        impl<'de> serde::de::Visitor<'de> for RowVisitor {
            type Value = JsonRow;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object with one key per column")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<JsonRow, M::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, JsonCell>()? {
                    entries.push((key, value));
                }
                Ok(JsonRow::Object(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<JsonRow, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonRow::NotObject)
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<JsonRow, E> {
                Ok(JsonRow::NotObject)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<JsonRow, E> {
                Ok(JsonRow::NotObject)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<JsonRow, E> {
                Ok(JsonRow::NotObject)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<JsonRow, E> {
                Ok(JsonRow::NotObject)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<JsonRow, E> {
                Ok(JsonRow::NotObject)
            }
            fn visit_unit<E>(self) -> std::result::Result<JsonRow, E> {
                Ok(JsonRow::NotObject)
            }
        }
        deserializer.deserialize_any(RowVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for JsonCell {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<JsonCell, D::Error> {
        struct CellVisitor;
        impl<'de> serde::de::Visitor<'de> for CellVisitor {
            type Value = JsonCell;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<JsonCell, E> {
                Ok(JsonCell::Null)
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<JsonCell, E> {
                Ok(JsonCell::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> std::result::Result<JsonCell, E> {
                Ok(JsonCell::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> std::result::Result<JsonCell, E> {
                Ok(match i64::try_from(u) {
                    Ok(i) => JsonCell::Int(i),
                    Err(_) => JsonCell::Float(u as f64),
                })
            }
            fn visit_f64<E>(self, f: f64) -> std::result::Result<JsonCell, E> {
                Ok(JsonCell::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<JsonCell, E> {
                Ok(JsonCell::String(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> std::result::Result<JsonCell, E> {
                Ok(JsonCell::String(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<JsonCell, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonCell::Array)
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<JsonCell, M::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(JsonCell::Object)
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

fn push_json_row(rows: &mut Rows, row: &JsonRow, where_: &str) -> Result<()> {
    let JsonRow::Object(entries) = row else {
        return Err(rows.error(where_, "expected a JSON object with one key per column"));
    };
    let positions = rows.header_positions(entries.iter().map(|(k, _)| k.as_str()), true, where_)?;
    for (index, &at) in positions.iter().enumerate() {
        let column = &rows.columns()[index];
        let cell = match &entries[at].1 {
            JsonCell::Null => Cell::Null,
            JsonCell::Bool(b) => Cell::Bool(*b),
            JsonCell::Int(i) => Cell::Int(*i),
            JsonCell::Float(f) => Cell::Float(*f),
            JsonCell::String(s) if column.ty.is_temporal() => Cell::Text(s),
            // JSON tells "" from null: an empty string stays a string.
            JsonCell::String(s) if column.ty == ColumnType::String => Cell::Exact(s),
            JsonCell::String(s) => Cell::JsonString(s),
            JsonCell::Array => Cell::Described("a JSON array"),
            JsonCell::Object => Cell::Described("a JSON object"),
        };
        rows.push(index, cell, where_)?;
    }
    rows.end_row()
}

/// Spreadsheet limits. A sheet is read cell by cell as its XML arrives, never as a dense grid,
/// so its memory is its rows' builders; these bound the rest before anything is allocated
/// for the sheet: Excel's own maximum rows and columns, a cell budget for the area a sheet
/// declares (`<dimension ref="A1:XFD1048576">` is refused), and how far the zip container may
/// expand (a zip bomb is refused before calamine reads its shared strings).
pub const MAX_SHEET_ROWS: u32 = 1_048_576;
pub const MAX_SHEET_COLUMNS: u32 = 16_384;
pub const MAX_SHEET_CELLS: u64 = 16 * 1024 * 1024;
pub const MAX_UNZIPPED_BYTES: u64 = 256 * 1024 * 1024;
const MAX_ZIP_ENTRIES: usize = 10_000;

fn read_spreadsheet(rows: &mut Rows, bytes: &[u8], sheet: Option<&str>) -> Result<()> {
    if bytes.starts_with(b"PK") {
        check_zip(rows, bytes)?;
    }
    // calamine is third-party code reading hostile bytes (a reversed `<dimension>` overflows
    // an unsigned subtraction in it): a panic there is a malformed file, not a crash.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_workbook(rows, bytes, sheet)
    }));
    outcome.unwrap_or_else(|_| {
        Err(rows.error(
            "1",
            "cannot read the spreadsheet: it is malformed (the reader gave up on it)",
        ))
    })
}

/// Opens the zip a spreadsheet is and checks, without keeping anything, that every part
/// really expands to no more than [`MAX_UNZIPPED_BYTES`] in all: the sizes a zip declares can
/// lie, so each part is decompressed into nothing and counted.
fn check_zip(rows: &Rows, bytes: &[u8]) -> Result<()> {
    use std::io::Read;
    let unreadable = |err: &dyn std::fmt::Display| {
        rows.error("1", format!("cannot read the spreadsheet: {err}"))
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(rows.error(
            "1",
            format!(
                "the spreadsheet has {} parts; at most {MAX_ZIP_ENTRIES} are read",
                archive.len()
            ),
        ));
    }
    let too_large = |part: &str| {
        rows.error(
            "1",
            format!(
                "the spreadsheet expands to more than {MAX_UNZIPPED_BYTES} bytes (at part {part}); save a table this large as CSV"
            ),
        )
    };
    let mut total = 0u64;
    for index in 0..archive.len() {
        let mut part = archive.by_index(index).map_err(|e| unreadable(&e))?;
        let name = part
            .name()
            .map(|n| n.chars().take(QUOTE_CHARS).collect::<String>())
            .unwrap_or_default();
        let budget = MAX_UNZIPPED_BYTES - total;
        if part.size() > budget {
            return Err(too_large(&name));
        }
        let expanded = std::io::copy(&mut (&mut part).take(budget + 1), &mut std::io::sink())
            .map_err(|e| unreadable(&e))?;
        if expanded > budget {
            return Err(too_large(&name));
        }
        total += expanded;
    }
    Ok(())
}

fn read_workbook(rows: &mut Rows, bytes: &[u8], sheet: Option<&str>) -> Result<()> {
    use calamine::{Reader, Sheets};
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|err| rows.error("1", format!("cannot read the spreadsheet: {err}")))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| *n == wanted)
            .cloned()
            .ok_or_else(|| {
                rows.error(
                    "1",
                    format!("no sheet named '{wanted}' (sheets: {})", names.join(", ")),
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| rows.error("1", "the workbook has no sheets"))?,
    };
    let cannot = |err: &dyn std::fmt::Display| format!("cannot read sheet '{name}': {err}");
    match &mut workbook {
        // The formats with a cell reader are read as they stream.
        Sheets::Xlsx(xlsx) => {
            let mut reader = xlsx
                .worksheet_cells_reader(&name)
                .map_err(|e| rows.error("1", cannot(&e)))?;
            let declared = reader.dimensions();
            read_sheet_cells(rows, &name, Some(declared), &mut || {
                let cell = reader.next_cell().map_err(|e| cannot(&e))?;
                Ok(cell.map(|c| (c.get_position(), Data::from(c.get_value().clone()))))
            })
        }
        Sheets::Xlsb(xlsb) => {
            let mut reader = xlsb
                .worksheet_cells_reader(&name)
                .map_err(|e| rows.error("1", cannot(&e)))?;
            let declared = reader.dimensions();
            read_sheet_cells(rows, &name, Some(declared), &mut || {
                let cell = reader.next_cell().map_err(|e| cannot(&e))?;
                Ok(cell.map(|c| (c.get_position(), Data::from(c.get_value().clone()))))
            })
        }
        // .xls holds at most 65,536 × 256 cells; calamine caps .ods at its own cell limit.
        _ => {
            let range = workbook
                .worksheet_range(&name)
                .map_err(|e| rows.error("1", cannot(&e)))?;
            let (top, left) = range.start().unwrap_or((0, 0));
            let mut cells = range.used_cells();
            read_sheet_cells(rows, &name, None, &mut || {
                Ok(cells.next().map(|(row, column, value)| {
                    ((top + row as u32, left + column as u32), value.clone())
                }))
            })
        }
    }
}

/// Where a sheet's cell is, as a spreadsheet names it: `(0, 0)` is `A1`.
fn cell_name((row, column): (u32, u32)) -> String {
    let mut letters = Vec::new();
    let mut n = column as u64 + 1;
    while n > 0 {
        let rest = (n - 1) % 26;
        letters.push(b'A' + rest as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", String::from_utf8_lossy(&letters), row as u64 + 1)
}

/// The first cell of a sheet whose position is past Excel's limits, as an error.
fn outside_sheet_limits(position: (u32, u32)) -> bool {
    position.0 >= MAX_SHEET_ROWS || position.1 >= MAX_SHEET_COLUMNS
}

/// A sheet cell's position (row, column, from 0) and value.
type SheetCell = ((u32, u32), Data);

/// Reads a sheet from its cells in order (row by row, as the XML has them): the first row
/// with a value is the header, each later row with a value a row of data. Only the current
/// row's declared columns are held.
fn read_sheet_cells(
    rows: &mut Rows,
    sheet: &str,
    declared: Option<calamine::Dimensions>,
    next: &mut dyn FnMut() -> std::result::Result<Option<SheetCell>, String>,
) -> Result<()> {
    let at_sheet = format!("sheet '{sheet}' row 1");
    if let Some(d) = declared {
        let (start, end) = (d.start, d.end);
        let area = format!("{}:{}", cell_name(start), cell_name(end));
        if end.0 < start.0 || end.1 < start.1 {
            return Err(rows.error(
                &at_sheet,
                format!("the sheet declares the reversed area {area}"),
            ));
        }
        let cells = (end.0 - start.0) as u64 + 1;
        let cells = cells * ((end.1 - start.1) as u64 + 1);
        if outside_sheet_limits(end) || cells > MAX_SHEET_CELLS {
            return Err(rows.error(
                &at_sheet,
                format!(
                    "the sheet declares the area {area} ({cells} cells); at most {MAX_SHEET_CELLS} cells, none past {}, are read (save a table this large as CSV)",
                    cell_name((MAX_SHEET_ROWS - 1, MAX_SHEET_COLUMNS - 1))
                ),
            ));
        }
    }
    let mut seen = 0u64;
    let mut next_cell = |rows: &Rows| -> Result<Option<SheetCell>> {
        let Some((position, value)) = next().map_err(|message| rows.error("1", message))? else {
            return Ok(None);
        };
        seen += 1;
        if outside_sheet_limits(position) {
            return Err(rows.error(
                &format!("sheet '{sheet}' row {}", position.0 as u64 + 1),
                format!(
                    "cell {} is past the last row or column a spreadsheet may have",
                    cell_name(position)
                ),
            ));
        }
        if seen > MAX_SHEET_CELLS {
            return Err(rows.error(
                &format!("sheet '{sheet}' row {}", position.0 as u64 + 1),
                format!(
                    "the sheet has more than {MAX_SHEET_CELLS} cells (save a table this large as CSV)"
                ),
            ));
        }
        Ok(Some((position, value)))
    };

    // The header: the cells of the first row that has a value.
    let mut header: Vec<(u32, String)> = Vec::new();
    let mut header_row = None;
    let mut pending = None;
    while let Some(((row, column), value)) = next_cell(rows)? {
        if matches!(value, Data::Empty) {
            continue;
        }
        match header_row {
            None => header_row = Some(row),
            Some(h) if h != row => {
                pending = Some(((row, column), value));
                break;
            }
            Some(_) => {}
        }
        header.push((column, value.to_string()));
    }
    let Some(header_row) = header_row else {
        return Err(rows.error(
            &at_sheet,
            "the sheet is empty; expected a header row naming the columns",
        ));
    };
    let header_where = format!("sheet '{sheet}' row {}", header_row as u64 + 1);
    let names = header
        .iter()
        .map(|(_, h)| h.as_str())
        .filter(|h| !h.trim().is_empty());
    rows.header_positions(names, true, &header_where)?;
    // Sheet column → declared column; every declared column is in the header (checked above).
    let mut index_of: HashMap<u32, usize> = HashMap::new();
    for (index, column) in rows.columns().iter().enumerate() {
        if let Some((at, _)) = header.iter().find(|(_, h)| h.trim() == column.name) {
            index_of.insert(*at, index);
        }
    }
    drop(header);

    let width = rows.columns().len();
    let mut current: Option<u32> = None;
    let mut values: Vec<Option<Data>> = vec![None; width];
    let mut has_value = false;
    let mut cell = pending;
    loop {
        if cell.is_none() {
            cell = next_cell(rows)?;
        }
        let row_ends = match (&cell, current) {
            (None, _) => true,
            (Some(((row, _), _)), Some(c)) => *row != c,
            (Some(_), None) => false,
        };
        if row_ends && let Some(row) = current {
            if has_value {
                let where_ = format!("sheet '{sheet}' row {}", row as u64 + 1);
                for (index, value) in values.iter_mut().enumerate() {
                    let value = value.take().unwrap_or(Data::Empty);
                    rows.push(index, sheet_cell(&value), &where_)?;
                }
                rows.end_row()?;
            }
            values.iter_mut().for_each(|v| *v = None);
            has_value = false;
        }
        let Some(((row, column), value)) = cell.take() else {
            break;
        };
        if let Some(c) = current
            && row < c
        {
            return Err(rows.error(
                &format!("sheet '{sheet}' row {}", row as u64 + 1),
                format!(
                    "the sheet's rows are out of order (row {} after row {})",
                    row as u64 + 1,
                    c as u64 + 1
                ),
            ));
        }
        current = Some(row);
        if matches!(value, Data::Empty) {
            continue;
        }
        has_value = true;
        if let Some(&index) = index_of.get(&column) {
            values[index] = Some(value);
        }
    }
    Ok(())
}

/// A spreadsheet value as a cell.
fn sheet_cell(value: &Data) -> Cell<'_> {
    match value {
        Data::Empty => Cell::Null,
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::String(s) | Data::DateTimeIso(s) => Cell::Text(s),
        Data::DateTime(dt) => match excel_civil(dt.as_f64()) {
            Some(civil) => Cell::Civil(civil),
            None => Cell::Other(dt.as_f64().to_string()),
        },
        other => Cell::Other(other.to_string()),
    }
}

/// A spreadsheet serial date (days since 1899-12-30, fraction = time of day) as a civil time.
fn excel_civil(serial: f64) -> Option<DateTime> {
    if !serial.is_finite() || !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let days = serial.floor() as i64;
    let seconds = ((serial - serial.floor()) * 86_400.0).round() as i64;
    let epoch = Date::new(1899, 12, 30)
        .ok()?
        .to_datetime(jiff::civil::Time::midnight());
    epoch
        .checked_add(jiff::Span::new().days(days).seconds(seconds))
        .ok()
}

fn read_parquet(rows: &mut Rows, bytes: &[u8]) -> Result<()> {
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let data = bytes::Bytes::copy_from_slice(bytes);
    let label = rows.label;
    let bad = |err: &dyn std::fmt::Display| {
        StoreError::Input(format!("{label}: not a readable Parquet file: {err}"))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(data).map_err(|err| bad(&err))?;
    let file_schema = builder.schema().clone();
    let names = file_schema.fields().iter().map(|f| f.name().as_str());
    let positions = rows.header_positions(names, true, "columns")?;
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|err| bad(&err))?;
    let mut first = 1usize;
    for batch in reader {
        let batch = batch.map_err(|err| bad(&err))?;
        // Dictionary-encoded columns (categoricals) are read as their plain values.
        let mut arrays = Vec::with_capacity(positions.len());
        for &at in &positions {
            let array = batch.column(at).clone();
            let array = match array.data_type() {
                DataType::Dictionary(_, value) => {
                    deltalake::arrow::compute::cast(&array, value).map_err(|err| bad(&err))?
                }
                _ => array,
            };
            arrays.push(array);
        }
        for row in 0..batch.num_rows() {
            let where_ = format!("row {}", first + row);
            for (index, array) in arrays.iter().enumerate() {
                let cell = arrow_cell(array.as_ref(), row);
                rows.push(index, cell, &where_)?;
            }
            rows.end_row()?;
        }
        first += batch.num_rows();
    }
    Ok(())
}

/// One value of a Parquet column as a cell.
fn arrow_cell(array: &dyn Array, row: usize) -> Cell<'_> {
    use deltalake::arrow::datatypes::*;
    if array.is_null(row) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Cell::Text(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Cell::Text(array.as_string_view().value(row)),
        DataType::Boolean => Cell::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Cell::Int(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Cell::Int(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Cell::Int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Cell::Int(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Cell::Int(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Cell::Int(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::Float32 => Cell::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            match date_from_days(days) {
                Some(date) => Cell::Civil(date.to_datetime(jiff::civil::Time::midnight())),
                None => Cell::Other(days.to_string()),
            }
        }
        DataType::Timestamp(unit, zone) => {
            let raw = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            let instant = match unit {
                TimeUnit::Second => jiff::Timestamp::from_second(raw),
                TimeUnit::Millisecond => jiff::Timestamp::from_millisecond(raw),
                TimeUnit::Microsecond => jiff::Timestamp::from_microsecond(raw),
                TimeUnit::Nanosecond => jiff::Timestamp::from_nanosecond(raw.into()),
            };
            match (instant, zone) {
                (Ok(ts), Some(_)) => Cell::Instant(ts),
                // A zone-less timestamp is a local wall-clock time (SPEC §2).
                (Ok(ts), None) => Cell::Civil(ts.to_zoned(jiff::tz::TimeZone::UTC).datetime()),
                (Err(_), _) => Cell::Other(raw.to_string()),
            }
        }
        other => Cell::Other(format!("a Parquet value of type {other}")),
    }
}

fn date_from_days(days: i32) -> Option<Date> {
    let span = jiff::Span::new().try_days(i64::from(days)).ok()?;
    Date::constant(1970, 1, 1).checked_add(span).ok()
}

fn days_from_date(date: Date) -> i32 {
    let epoch = Date::constant(1970, 1, 1);
    // Dates are within ±9999 years, so the day count fits in an i32.
    (date - epoch).get_days()
}

/// One incoming value before it is checked against its column.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    /// Text to be parsed per the column's type (CSV cells, JSON strings of text/time columns).
    Text(&'a str),
    /// Text taken as is, never null (JSON strings of text columns).
    Exact(&'a str),
    /// A JSON string where a number or boolean belongs: always an error.
    JsonString(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A wall-clock time without zone (spreadsheet dates, Parquet dates and naive timestamps).
    Civil(DateTime),
    /// An exact instant (Parquet timestamps with a zone).
    Instant(jiff::Timestamp),
    /// Anything else, described.
    Other(String),
    /// A value that is never right for a cell, said in words (a JSON array or object).
    Described(&'static str),
}

impl Cell<'_> {
    fn quote(&self) -> String {
        let text = match self {
            Cell::Null => return "nothing".to_string(),
            Cell::Text(s) | Cell::Exact(s) => return quote_text(s),
            Cell::JsonString(s) => return format!("the string {}", quote_text(s)),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Civil(dt) => dt.to_string(),
            Cell::Instant(ts) => ts.to_string(),
            Cell::Other(s) => s.clone(),
            Cell::Described(what) => return what.to_string(),
        };
        quote_text(&text)
    }
}

fn quote_text(text: &str) -> String {
    if text.chars().count() <= QUOTE_CHARS {
        format!("'{text}'")
    } else {
        let head: String = text.chars().take(QUOTE_CHARS).collect();
        format!("'{head}…' ({} bytes)", text.len())
    }
}

enum CellBuilder {
    String(StringBuilder),
    Integer(Int64Builder),
    Number(Float64Builder),
    Boolean(BooleanBuilder),
    /// Dates in the stored layout.
    Date(Date32Builder),
    /// Instants; `utc` marks the stored layout's zone.
    Time {
        builder: TimestampMicrosecondBuilder,
        utc: bool,
    },
}

impl CellBuilder {
    fn new(ty: ColumnType, layout: Layout) -> CellBuilder {
        match (ty, layout) {
            (ColumnType::String, _) => CellBuilder::String(StringBuilder::new()),
            (ColumnType::Integer, _) => CellBuilder::Integer(Int64Builder::new()),
            (ColumnType::Number, _) => CellBuilder::Number(Float64Builder::new()),
            (ColumnType::Boolean, _) => CellBuilder::Boolean(BooleanBuilder::new()),
            (ColumnType::Date, Layout::Stored) => CellBuilder::Date(Date32Builder::new()),
            (ColumnType::Date | ColumnType::Timestamp, _) => CellBuilder::Time {
                builder: TimestampMicrosecondBuilder::new(),
                utc: layout == Layout::Stored,
            },
        }
    }

    fn len(&self) -> usize {
        match self {
            CellBuilder::String(b) => b.len(),
            CellBuilder::Integer(b) => b.len(),
            CellBuilder::Number(b) => b.len(),
            CellBuilder::Boolean(b) => b.len(),
            CellBuilder::Date(b) => b.len(),
            CellBuilder::Time { builder, .. } => builder.len(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            CellBuilder::String(b) => Arc::new(b.finish()),
            CellBuilder::Integer(b) => Arc::new(b.finish()),
            CellBuilder::Number(b) => Arc::new(b.finish()),
            CellBuilder::Boolean(b) => Arc::new(b.finish()),
            CellBuilder::Date(b) => Arc::new(b.finish()),
            CellBuilder::Time { builder, utc } => {
                let array = builder.finish();
                if *utc {
                    Arc::new(array.with_timezone("UTC"))
                } else {
                    Arc::new(array)
                }
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            CellBuilder::String(b) => b.append_null(),
            CellBuilder::Integer(b) => b.append_null(),
            CellBuilder::Number(b) => b.append_null(),
            CellBuilder::Boolean(b) => b.append_null(),
            CellBuilder::Date(b) => b.append_null(),
            CellBuilder::Time { builder, .. } => builder.append_null(),
        }
    }

    /// Appends one cell; on failure returns what was expected.
    fn push(
        &mut self,
        cell: &Cell,
        column: &Column,
        csv: &CsvOptions,
        calendar: &Calendar,
    ) -> std::result::Result<(), String> {
        if let (CellBuilder::String(b), Cell::Text(text)) = (&mut *self, cell) {
            if text.is_empty() {
                b.append_null();
            } else {
                b.append_value(text);
            }
            return Ok(());
        }
        let is_blank = match cell {
            Cell::Null => true,
            Cell::Text(text) => text.trim().is_empty(),
            _ => false,
        };
        if is_blank {
            self.append_null();
            return Ok(());
        }
        match self {
            CellBuilder::String(b) => match cell {
                Cell::Exact(text) => b.append_value(text),
                Cell::Int(i) => b.append_value(i.to_string()),
                Cell::Float(f) => b.append_value(f.to_string()),
                Cell::Bool(v) => b.append_value(v.to_string()),
                _ => return Err("text".to_string()),
            },
            CellBuilder::Integer(b) => b.append_value(match cell {
                Cell::Text(text) => text
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| "a whole number".to_string())?,
                Cell::Int(i) => *i,
                Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => *f as i64,
                _ => return Err("a whole number".to_string()),
            }),
            CellBuilder::Number(b) => b.append_value(match cell {
                Cell::Text(text) => parse_number(text.trim(), csv.decimal)?,
                Cell::Int(i) => *i as f64,
                Cell::Float(f) if f.is_finite() => *f,
                _ => return Err("a number".to_string()),
            }),
            CellBuilder::Boolean(b) => b.append_value(match cell {
                Cell::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "t" => true,
                    "false" | "0" | "no" | "f" => false,
                    _ => return Err("true or false".to_string()),
                },
                Cell::Bool(v) => *v,
                _ => return Err("true or false".to_string()),
            }),
            CellBuilder::Date(b) => {
                let date = match cell {
                    Cell::Text(text) => parse_date(text.trim(), column)?,
                    Cell::Civil(dt) if dt.time() == jiff::civil::Time::midnight() => dt.date(),
                    _ => return Err(expected_date(column)),
                };
                b.append_value(days_from_date(date));
            }
            CellBuilder::Time { builder, .. } => {
                let instant = match cell {
                    Cell::Text(text) => parse_time(text.trim(), column, calendar)?,
                    Cell::Civil(dt) if column.ty == ColumnType::Date => {
                        if dt.time() != jiff::civil::Time::midnight() {
                            return Err(expected_date(column));
                        }
                        calendar.date_start(dt.date())
                    }
                    Cell::Civil(dt) => calendar.local_instant(*dt),
                    Cell::Instant(ts) if column.ty == ColumnType::Timestamp => *ts,
                    _ => return Err(expected_time(column)),
                };
                builder.append_value(instant.as_microsecond());
            }
        }
        Ok(())
    }
}

/// A number with `.` or `,` as the decimal mark; never infinite or NaN.
fn parse_number(text: &str, decimal: char) -> std::result::Result<f64, String> {
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

fn expected_date(column: &Column) -> String {
    match &column.format {
        Some(format) => format!("a date in the format \"{format}\""),
        None => "a date like 2026-01-31".to_string(),
    }
}

fn expected_time(column: &Column) -> String {
    if column.ty == ColumnType::Date {
        return expected_date(column);
    }
    match &column.format {
        Some(format) => format!("a timestamp in the format \"{format}\""),
        None => "a timestamp like 2026-01-31T23:30:00Z, 2026-01-31T20:30:00-03:00 or 2026-01-31 20:30:00 (local)".to_string(),
    }
}

/// A `date` cell as a calendar date.
fn parse_date(text: &str, column: &Column) -> std::result::Result<Date, String> {
    match &column.format {
        Some(format) => jiff::fmt::strtime::parse(format, text)
            .and_then(|parsed| parsed.to_date())
            .map_err(|_| expected_date(column)),
        // Exactly YYYY-MM-DD: a value with a time or an offset is not a calendar date.
        None if text.len() == 10 => text.parse::<Date>().map_err(|_| expected_date(column)),
        None => Err(expected_date(column)),
    }
}

/// A date or timestamp cell as an instant (SPEC §2: no offset means local time).
fn parse_time(
    text: &str,
    column: &Column,
    calendar: &Calendar,
) -> std::result::Result<jiff::Timestamp, String> {
    if column.ty == ColumnType::Date {
        return Ok(calendar.date_start(parse_date(text, column)?));
    }
    if let Some(format) = &column.format {
        let parsed = jiff::fmt::strtime::parse(format, text).map_err(|_| expected_time(column))?;
        if let Ok(ts) = parsed.to_timestamp() {
            return Ok(ts);
        }
        if let Ok(dt) = parsed.to_datetime() {
            return Ok(calendar.local_instant(dt));
        }
        let date = parsed.to_date().map_err(|_| expected_time(column))?;
        return Ok(calendar.date_start(date));
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    // A bracketed zone name without an offset would be dropped by the civil parse below.
    if text.contains('[') {
        return Err(expected_time(column));
    }
    if let Ok(dt) = text.parse::<DateTime>() {
        return Ok(calendar.local_instant(dt));
    }
    if text.len() == 10
        && let Ok(date) = text.parse::<Date>()
    {
        return Ok(calendar.date_start(date));
    }
    Err(expected_time(column))
}
