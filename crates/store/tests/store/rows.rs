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

/// A number in JSON is the nearest double to its digits, as in CSV: `14.596545340034117` is
/// one bit above what a fast-path parse gives (…115), and `0.1 + 0.2`'s digits are not `0.3`.
#[test]
fn json_numbers_are_read_to_the_nearest_double() {
    for digits in [
        "14.596545340034117",
        "0.30000000000000004",
        "2.2250738585072014e-308",
        "9007199254740993.5",
    ] {
        let expected: f64 = digits.parse().unwrap();
        for (format, bytes) in [
            (
                Format::Ndjson,
                format!(
                    r#"{{"id": 1, "respondida": null, "dia": null, "nota": {digits}, "cliente": null, "recomienda": null}}"#
                ),
            ),
            (
                Format::Json,
                format!(
                    r#"[{{"id": 1, "respondida": null, "dia": null, "nota": {digits}, "cliente": null, "recomienda": null}}]"#
                ),
            ),
        ] {
            let batches = parse(format, bytes.as_bytes()).unwrap();
            let read = batches[0].column(3).as_primitive::<Float64Type>().value(0);
            assert_eq!(read.to_bits(), expected.to_bits(), "{format:?} {digits}");
        }
    }
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

/// A JSON array is read one object at a time; the errors still name the row and column, and
/// values that are never cells (arrays, objects) are named in words.
#[test]
fn json_arrays_are_read_row_by_row() {
    let row = |id: usize| {
        format!(
            r#"{{"id": {id}, "respondida": "2026-01-05 10:00:00", "dia": "2026-01-05", "nota": 7, "cliente": "c{id}", "recomienda": true}}"#
        )
    };
    let rows: Vec<String> = (1..=70_000).map(row).collect();
    let body = format!("[{}]", rows.join(",\n"));
    let batches = parse(Format::Json, body.as_bytes()).unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 70_000);
    let last = batches.last().unwrap();
    assert_eq!(
        last.column(0)
            .as_primitive::<Int64Type>()
            .value(last.num_rows() - 1),
        70_000
    );
    let cases: &[(&str, &str)] = &[
        (
            r#"[{"id": 1, "respondida": null, "dia": null, "nota": [1, 2], "cliente": null, "recomienda": null}]"#,
            "in: row 1: column 'nota': expected a number, found a JSON array",
        ),
        (
            r#"[{"id": 1, "respondida": null, "dia": null, "nota": 1, "cliente": {"a": [[[]]]}, "recomienda": null}]"#,
            "in: row 1: column 'cliente': expected text, found a JSON object",
        ),
        (
            r#"[{"id": 1, "respondida": null, "dia": null, "nota": 1, "cliente": null, "recomienda": null}, 5]"#,
            "in: row 2: expected a JSON object with one key per column",
        ),
        (
            r#"[{"id": 1, "id": 2, "respondida": null, "dia": null, "nota": 1, "cliente": null, "recomienda": null}]"#,
            "in: row 1: column 'id' appears twice",
        ),
        (
            r#"{"id": 1}"#,
            "in:1: expected a JSON array of objects, one per row",
        ),
        (
            "[{\"id\": 1,\n \"nota\": }]",
            "in:2: expected a JSON array of objects: expected value at line 2",
        ),
        (
            "[] []",
            "in:1: expected a JSON array of objects: trailing characters",
        ),
    ];
    for (body, expected) in cases {
        let message = parse(Format::Json, body.as_bytes()).unwrap_err();
        assert!(message.contains(expected), "{body}\n  {message}");
    }
    // An array nested 100,000 deep is skipped over without recursion, then refused.
    let deep = format!(
        r#"[{{"id": 1, "respondida": null, "dia": null, "nota": {}1{}, "cliente": null, "recomienda": null}}]"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let message = parse(Format::Json, deep.as_bytes()).unwrap_err();
    assert_eq!(
        message,
        "in: row 1: column 'nota': expected a number, found a JSON array"
    );
    let message = parse(Format::Ndjson, &deep.as_bytes()[1..deep.len() - 1]).unwrap_err();
    assert_eq!(
        message,
        "in:1: column 'nota': expected a number, found a JSON array"
    );
}

mod spreadsheets {
    //! Hand-made hostile workbooks: a declared area past the limits, far-apart cells, cells
    //! past Excel's last column, a reversed area, and zip bombs with honest and lying sizes.

    use std::io::Write;

    use super::*;
    use tablero_store::rows::{MAX_SHEET_CELLS, MAX_UNZIPPED_BYTES};

    const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Hoja" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

    /// The header row naming the fixture's columns, and one row with `id` 7.
    const ROWS: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c><c r="B1" t="inlineStr"><is><t>respondida</t></is></c><c r="C1" t="inlineStr"><is><t>dia</t></is></c><c r="D1" t="inlineStr"><is><t>nota</t></is></c><c r="E1" t="inlineStr"><is><t>cliente</t></is></c><c r="F1" t="inlineStr"><is><t>recomienda</t></is></c></row><row r="2"><c r="A2"><v>7</v></c><c r="D2"><v>9.5</v></c></row>"#;

    fn sheet(dimension: &str, rows: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dimension}<sheetData>{rows}</sheetData></worksheet>"#
        )
    }

    /// A part of a workbook: its name in the zip, and what writes it.
    type Part<'a> = (&'a str, &'a mut dyn FnMut(&mut dyn Write));

    /// A workbook of one sheet; `extra` parts are written after it, each from a writer.
    fn workbook(sheet: &str, extra: &mut [Part]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let parts = [
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            ("xl/workbook.xml", WORKBOOK),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
            ("xl/worksheets/sheet1.xml", sheet),
        ];
        for (name, text) in parts {
            zip.start_file(name, options).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        for (name, write) in extra.iter_mut() {
            zip.start_file(*name, options).unwrap();
            write(&mut zip);
        }
        zip.finish().unwrap().into_inner()
    }

    /// `bytes` of one repeated byte: deflate shrinks it about a thousandfold.
    fn filler(bytes: u64) -> impl FnMut(&mut dyn Write) {
        move |out: &mut dyn Write| {
            let chunk = vec![b' '; 1 << 20];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                out.write_all(&chunk[..n]).unwrap();
                left -= n as u64;
            }
        }
    }

    #[test]
    fn a_hand_made_workbook_is_read() {
        let bytes = workbook(&sheet(r#"<dimension ref="A1:F2"/>"#, ROWS), &mut []);
        let batches = parse(Format::Spreadsheet, &bytes).unwrap();
        assert_eq!(batches[0].num_rows(), 1);
        assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 7);
        assert_eq!(
            batches[0].column(3).as_primitive::<Float64Type>().value(0),
            9.5
        );
        assert!(batches[0].column(4).is_null(0));
    }

    #[test]
    fn a_sheet_declaring_the_whole_grid_is_refused() {
        let bytes = workbook(&sheet(r#"<dimension ref="A1:XFD1048576"/>"#, ROWS), &mut []);
        let message = parse(Format::Spreadsheet, &bytes).unwrap_err();
        assert_eq!(
            message,
            format!(
                "in: sheet 'Hoja' row 1: the sheet declares the area A1:XFD1048576 (17179869184 cells); at most {MAX_SHEET_CELLS} cells, none past XFD1048576, are read (save a table this large as CSV)"
            )
        );
        // Just inside the cell budget: read.
        let rows = MAX_SHEET_CELLS / 16;
        let bytes = workbook(
            &sheet(&format!(r#"<dimension ref="A1:P{rows}"/>"#), ROWS),
            &mut [],
        );
        assert!(parse(Format::Spreadsheet, &bytes).is_ok());
    }

    /// Regression: calamine's range is a dense grid over the cells' bounding box, so a cell at
    /// A1 and one at XFD1048576 asked for 17 billion cells (an abort, not an error). Read as a
    /// stream, the far cell is just one more (empty) row.
    #[test]
    fn far_apart_cells_cost_no_grid() {
        let far = r#"<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#;
        let bytes = workbook(&sheet("", &format!("{ROWS}{far}")), &mut []);
        let batches = parse(Format::Spreadsheet, &bytes).unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 2);
        let last = batches.last().unwrap();
        assert!(last.column(0).is_null(last.num_rows() - 1));
    }

    #[test]
    fn cells_past_the_last_column_or_row_are_refused() {
        for (cell, row) in [("XFE2", 2), ("A1048577", 1_048_577)] {
            let far = format!(r#"<row r="{row}"><c r="{cell}"><v>1</v></c></row>"#);
            let bytes = workbook(&sheet("", &format!("{ROWS}{far}")), &mut []);
            let message = parse(Format::Spreadsheet, &bytes).unwrap_err();
            assert_eq!(
                message,
                format!(
                    "in: sheet 'Hoja' row {row}: cell {cell} is past the last row or column a spreadsheet may have"
                )
            );
        }
    }

    #[test]
    fn rows_out_of_order_and_reversed_areas_are_refused() {
        let back =
            r#"<row r="3"><c r="A3"><v>8</v></c></row><row r="2"><c r="A2"><v>9</v></c></row>"#;
        let rows = ROWS.replace(
            r#"<row r="2"><c r="A2"><v>7</v></c><c r="D2"><v>9.5</v></c></row>"#,
            back,
        );
        let bytes = workbook(&sheet("", &rows), &mut []);
        let message = parse(Format::Spreadsheet, &bytes).unwrap_err();
        assert_eq!(
            message,
            "in: sheet 'Hoja' row 2: the sheet's rows are out of order (row 2 after row 3)"
        );
        // A reversed area: refused whether calamine's own arithmetic on it trips first (a
        // panic in a build with overflow checks, caught) or ours does.
        let bytes = workbook(&sheet(r#"<dimension ref="F2:A1"/>"#, ROWS), &mut []);
        let message = parse(Format::Spreadsheet, &bytes).unwrap_err();
        assert!(
            message == "in: sheet 'Hoja' row 1: the sheet declares the reversed area F2:A1"
                || message
                    == "in:1: cannot read the spreadsheet: it is malformed (the reader gave up on it)",
            "{message}"
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_read() {
        // 300 MiB of spaces in the shared strings, which calamine would hold in memory.
        let bytes = workbook(
            &sheet("", ROWS),
            &mut [("xl/sharedStrings.xml", &mut filler(300 << 20))],
        );
        assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
        let message = parse(Format::Spreadsheet, &bytes).unwrap_err();
        assert_eq!(
            message,
            format!(
                "in:1: the spreadsheet expands to more than {MAX_UNZIPPED_BYTES} bytes (at part xl/sharedStrings.xml); save a table this large as CSV"
            )
        );
    }

    #[test]
    fn a_zip_bomb_with_lying_sizes_is_refused() {
        let bytes = workbook(
            &sheet("", ROWS),
            &mut [("xl/sharedStrings.xml", &mut filler(300 << 20))],
        );
        // Rewrite the part's declared uncompressed size, in its local header (offset 22) and
        // in the central directory (offset 24), to 1 KiB.
        let mut bytes = bytes;
        let name = b"xl/sharedStrings.xml";
        let mut patched = 0;
        for at in 0..bytes.len() - 4 {
            let header = &bytes[at..at + 4];
            let (size_at, name_at) = match header {
                b"PK\x03\x04" => (at + 22, at + 30),
                b"PK\x01\x02" => (at + 24, at + 46),
                _ => continue,
            };
            if bytes.get(name_at..name_at + name.len()) == Some(name.as_slice()) {
                bytes[size_at..size_at + 4].copy_from_slice(&1024u32.to_le_bytes());
                patched += 1;
            }
        }
        assert_eq!(patched, 2);
        let message = parse(Format::Spreadsheet, &bytes).unwrap_err();
        assert!(message.starts_with("in:1: "), "{message}");
        assert!(message.contains("spreadsheet"), "{message}");
    }

    #[test]
    fn an_honest_large_part_under_the_limit_is_read() {
        // 8 MiB of filler in a part calamine does not read: within the limit, so the sheet is
        // read as usual.
        let bytes = workbook(
            &sheet("", ROWS),
            &mut [("docProps/filler.xml", &mut filler(8 << 20))],
        );
        let batches = parse(Format::Spreadsheet, &bytes).unwrap();
        assert_eq!(batches[0].num_rows(), 1);
    }
}

/// A CSV file of `rows` answers: id i, answered on day 1 + i % 28 of September 2026 at noon,
/// score i % 11, one of five clients. About 60 bytes a row.
fn large_csv(rows: usize) -> String {
    let mut csv = String::from("id,respondida,dia,nota,cliente,recomienda\n");
    for i in 0..rows {
        let day = 1 + i % 28;
        csv.push_str(&format!(
            "{i},2026-09-{day:02} 12:00:00,2026-09-{day:02},{},Cliente {},no\n",
            i % 11,
            i % 5
        ));
    }
    csv
}

/// A file large enough to be read on several threads (over 4 MiB of rows, no quoted field)
/// gives every row once, in the file's order, and names the right line of a bad cell
/// wherever it is.
#[test]
fn a_large_file_is_read_whole_and_in_order() {
    let rows = 120_000;
    let csv = large_csv(rows);
    assert!(csv.len() > 5 << 20, "{} bytes", csv.len());
    let batches = parse(Format::Csv, csv.as_bytes()).unwrap();
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids, (0..rows as i64).collect::<Vec<_>>());
    // Scores i % 11 over 120,000 rows: 10,909 full cycles of 0..=10 (55 each) and 1 more row
    // (score 0): 10,909 × 55 = 599,995.
    let scores: f64 = batches
        .iter()
        .flat_map(|b| b.column(3).as_primitive::<Float64Type>().values().to_vec())
        .sum();
    assert_eq!(scores, 599_995.0);
    // A bad score near the end, then near the start: row i is on line i + 2 (the header is
    // line 1).
    for bad_row in [rows - 7, 3] {
        let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
        lines[bad_row + 1] = lines[bad_row + 1].replace(",no", ",tal vez");
        let broken = lines.join("\n") + "\n";
        let err = parse(Format::Csv, broken.as_bytes()).unwrap_err();
        assert!(
            err.starts_with(&format!("in:{}: column 'recomienda'", bad_row + 2)),
            "row {bad_row}: {err}"
        );
        // A row with a field missing, the same way.
        let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
        lines[bad_row + 1] = lines[bad_row + 1].replace(",no", "");
        let ragged = lines.join("\n") + "\n";
        let err = parse(Format::Csv, ragged.as_bytes()).unwrap_err();
        assert!(
            err.starts_with(&format!("in:{}: malformed CSV row", bad_row + 2)),
            "row {bad_row}: {err}"
        );
    }
}
