//! The row readers: typed values per format, and no panic on arbitrary bytes.

use std::path::Path;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use proptest::prelude::*;
use tablero_calendar::Calendar;
use tablero_model::Source;
use tablero_store::rows::{Format, Input, read};

fn fixture() -> (Source, Calendar) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/store/workspace");
    let (workspace, diagnostics) = tablero_model::load_workspace(&root);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let calendar = Calendar::new("America/Santiago", 1).unwrap();
    (workspace.source("encuestas").unwrap().clone(), calendar)
}

fn parse(format: Format, bytes: &[u8]) -> Result<Vec<RecordBatch>, String> {
    let (source, calendar) = fixture();
    let input = Input {
        bytes,
        format,
        label: "in",
        sheet: None,
    };
    read(&input, &source, &calendar, &mut |_| {}).map_err(|e| e.to_string())
}

#[test]
fn values_are_stored_as_dates_and_utc_instants() {
    let csv = "id,respondida,dia,nota,cliente,recomienda\n\
               1,2026-09-06 00:30:00,2026-09-06,7.5,Banco Sur,yes\n\
               2,2026-04-04 23:30:00,2026-04-05,8,,\n";
    let batches = parse(Format::Csv, csv.as_bytes()).unwrap();
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 2);
    let ids = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(ids.value(1), 2);
    // 2026-09-06 00:30 does not exist in Santiago (clocks jump 00:00 → 01:00, -04 → -03):
    // the skipped time moves forward by the gap, to 01:30 -03:00 = 04:30Z.
    // 2026-04-04 23:30 exists twice (-03, then -04 after 24:00 → 23:00): the first, -03:00,
    // which is 02:30Z.
    let at = batch.column(1).as_primitive::<TimestampMicrosecondType>();
    let expected: [jiff::Timestamp; 2] = [
        "2026-09-06T04:30:00Z".parse().unwrap(),
        "2026-04-05T02:30:00Z".parse().unwrap(),
    ];
    assert_eq!(at.value(0), expected[0].as_microsecond());
    assert_eq!(at.value(1), expected[1].as_microsecond());
    // Dates are days since 1970-01-01: 2026-09-06 is day 20702 (56 years with 14 leap days
    // = 20454, plus 248 days from Jan 1 to Sep 6).
    let days = batch.column(2).as_primitive::<Date32Type>();
    assert_eq!(days.value(0), 20702);
    assert_eq!(batch.column(3).as_primitive::<Float64Type>().value(0), 7.5);
    assert!(batch.column(4).is_null(1));
    assert!(batch.column(5).as_boolean().value(0));
    // This source uses the decimal point, so "7,5" is not a number here.
    let bad = parse(
        Format::Csv,
        b"id,respondida,dia,nota,cliente,recomienda\n1,,,\"7,5\",,\n",
    );
    let message = bad.unwrap_err();
    assert!(message.contains("in:2: column 'nota'"), "{message}");
}

#[test]
fn json_integral_floats_fit_integer_columns_and_nulls_are_null() {
    let ndjson = br#"{"id": 3.0, "respondida": null, "dia": null, "nota": 4, "cliente": null, "recomienda": false}"#;
    let batches = parse(Format::Ndjson, ndjson).unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 3);
    assert!(batches[0].column(1).is_null(0));
    let fractional = br#"{"id": 3.5, "respondida": null, "dia": null, "nota": 4, "cliente": null, "recomienda": false}"#;
    let message = parse(Format::Ndjson, fractional).unwrap_err();
    assert!(
        message.contains("in:1: column 'id': expected a whole number, found '3.5'"),
        "{message}"
    );
}

#[test]
fn spreadsheets_read_the_named_sheet() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/store/batches/octubre.xlsx");
    let bytes = std::fs::read(path).unwrap();
    let batches = parse(Format::Spreadsheet, &bytes).unwrap();
    assert_eq!(batches[0].num_rows(), 2);
    // A spreadsheet date-time has no zone: 2026-10-05 11:00 local (-03:00) = 14:00Z.
    let at = batches[0]
        .column(1)
        .as_primitive::<TimestampMicrosecondType>();
    let expected: jiff::Timestamp = "2026-10-05T14:00:00Z".parse().unwrap();
    assert_eq!(at.value(0), expected.as_microsecond());
    let (source, calendar) = fixture();
    let input = Input {
        bytes: &bytes,
        format: Format::Spreadsheet,
        label: "octubre.xlsx",
        sheet: Some("Notas"),
    };
    let err = read(&input, &source, &calendar, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("octubre.xlsx: sheet 'Notas' row 1: unknown column 'comentario'"),
        "{err}"
    );
    let input = Input {
        sheet: Some("Falta"),
        ..input
    };
    let err = read(&input, &source, &calendar, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no sheet named 'Falta' (sheets: Respuestas, Notas)"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic any reader.
    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Csv, Format::Ndjson, Format::Json, Format::Parquet, Format::Spreadsheet] {
            let _ = parse(format, &bytes);
        }
    }

    /// Rows that look almost right (a valid header, random cells) never panic either.
    #[test]
    fn near_valid_rows_do_not_panic(cells in proptest::collection::vec("[0-9a-zA-Z:,.\"T +-]{0,12}", 0..30)) {
        let mut csv = String::from("id,respondida,dia,nota,cliente,recomienda\n");
        let mut ndjson = String::new();
        let names = ["id", "respondida", "dia", "nota", "cliente", "recomienda"];
        for row in cells.chunks(6) {
            csv.push_str(&row.join(","));
            csv.push('\n');
            let fields: Vec<String> = row
                .iter()
                .zip(names)
                .map(|(cell, name)| format!("\"{name}\": {}", serde_json::to_string(cell).unwrap()))
                .collect();
            ndjson.push_str(&format!("{{{}}}\n", fields.join(", ")));
        }
        let _ = parse(Format::Csv, csv.as_bytes());
        let _ = parse(Format::Ndjson, ndjson.as_bytes());
    }
}

#[test]
fn keys_match_after_trimming_and_dates_are_only_dates() {
    // A key with stray spaces names its column (no lookup of the untrimmed name).
    let ndjson = br#"{"id ": 1, " respondida": null, "dia": null, "nota": 4, "cliente": "", "recomienda": null}"#;
    let batches = parse(Format::Ndjson, ndjson).unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 1);
    // JSON keeps "" apart from null.
    assert!(!batches[0].column(4).is_null(0));
    assert_eq!(batches[0].column(4).as_string::<i32>().value(0), "");
    // A date column takes a calendar date, not an instant whose local date would differ.
    let csv = b"id,respondida,dia,nota,cliente,recomienda\n1,,2026-02-01T02:30:00+00:00,1,,\n";
    let message = parse(Format::Csv, csv).unwrap_err();
    assert!(
        message.contains("in:2: column 'dia': expected a date like 2026-01-31"),
        "{message}"
    );
    // A zone name without an offset is refused rather than read as local time.
    let csv =
        b"id,respondida,dia,nota,cliente,recomienda\n1,2026-01-31T20:30:00[Europe/Madrid],,1,,\n";
    let message = parse(Format::Csv, csv).unwrap_err();
    assert!(
        message.contains("column 'respondida': expected a timestamp"),
        "{message}"
    );
}
