//! Tables as files people open (SPEC §7): CSV meant for spreadsheets follows the locale
//! (`es`: `;`, a decimal comma and a byte-order mark; `en`: `,` and a decimal point) and
//! never starts a cell with `=`, `+`, `-` or `@` that a spreadsheet would run as a formula;
//! XLSX (rust_xlsxwriter) keeps numbers as numbers, with a number format per unit.
//!
//! Nothing here computes: a [`Table`] arrives with its values, and leaves as bytes.

use rust_xlsxwriter::{Format, Workbook};
use tablero_model::{Locale, Unit};

/// A table to export: named columns and rows of cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

/// A column: its heading, and how its numbers read.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// For number columns: the unit and decimals of their KPI.
    pub number: Option<(Unit, u8)>,
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(Option<f64>),
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the spreadsheet: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// A text a spreadsheet would read as a formula gets a leading apostrophe.
fn neutralise(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// CSV for spreadsheets in `locale`: numbers in full precision with the locale's decimal mark.
pub fn csv_for_spreadsheets(table: &Table, locale: Locale) -> Result<Vec<u8>, ExportError> {
    let (delimiter, bom, decimal) = match locale {
        Locale::Es => (b';', true, ','),
        Locale::En => (b',', false, '.'),
    };
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(out);
    writer.write_record(table.columns.iter().map(|c| neutralise(&c.name)))?;
    for row in &table.rows {
        writer.write_record(row.iter().map(|cell| match cell {
            Cell::Text(t) => neutralise(t),
            Cell::Number(None) => String::new(),
            Cell::Number(Some(v)) => {
                let text = v.to_string();
                if decimal == ',' {
                    text.replace('.', ",")
                } else {
                    text
                }
            }
        }))?;
    }
    writer
        .into_inner()
        .map_err(|e| ExportError::Csv(e.into_error().into()))
}

/// CSV for programs (the values API's `Accept: text/csv`): `,` and a decimal point, numbers
/// in full precision, no byte-order mark; text cells still never start a formula.
pub fn csv_for_programs(table: &Table) -> Result<Vec<u8>, ExportError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(table.columns.iter().map(|c| neutralise(&c.name)))?;
    for row in &table.rows {
        writer.write_record(row.iter().map(|cell| match cell {
            Cell::Text(t) => neutralise(t),
            Cell::Number(None) => String::new(),
            Cell::Number(Some(v)) => v.to_string(),
        }))?;
    }
    writer
        .into_inner()
        .map_err(|e| ExportError::Csv(e.into_error().into()))
}

/// The spreadsheet number format of a unit (Excel's codes; shown per the reader's locale).
fn number_format(unit: Unit, decimals: u8) -> String {
    let places = if decimals == 0 {
        String::new()
    } else {
        format!(".{}", "0".repeat(decimals as usize))
    };
    match unit {
        Unit::Percent => format!("0{places}\" %\""),
        Unit::Currency => format!("\"$\"#,##0{places}"),
        _ => format!("#,##0{places}"),
    }
}

/// An XLSX workbook of one sheet: headings in bold, numbers as numbers in their unit's format.
pub fn xlsx(table: &Table, sheet: &str) -> Result<Vec<u8>, ExportError> {
    xlsx_sheets(&[(sheet.to_string(), table.clone())])
}

/// An XLSX workbook of one sheet per (name, table) — one per KPI, so each keeps its unit's
/// format.
pub fn xlsx_sheets(sheets: &[(String, Table)]) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let mut used: Vec<String> = Vec::new();
    for (sheet, table) in sheets {
        let name: String = sheet
            .chars()
            .filter(|c| !"[]:*?/\\".contains(*c))
            .take(28)
            .collect();
        let mut name = if name.is_empty() {
            "Tablero".to_string()
        } else {
            name
        };
        // Sheet names are unique (case-insensitive) in a workbook.
        let mut n = 2;
        while used.iter().any(|u| u.eq_ignore_ascii_case(&name)) {
            name = format!("{} {n}", name.chars().take(25).collect::<String>());
            n += 1;
        }
        used.push(name.clone());
        write_sheet(workbook.add_worksheet(), table, &name)?;
    }
    Ok(workbook.save_to_buffer()?)
}

fn write_sheet(
    worksheet: &mut rust_xlsxwriter::Worksheet,
    table: &Table,
    name: &str,
) -> Result<(), ExportError> {
    worksheet.set_name(name)?;
    let bold = Format::new().set_bold();
    for (c, column) in table.columns.iter().enumerate() {
        worksheet.write_string_with_format(0, c as u16, &column.name, &bold)?;
        worksheet.set_column_width(c as u16, 16)?;
    }
    let formats: Vec<Option<Format>> = table
        .columns
        .iter()
        .map(|c| {
            c.number
                .map(|(unit, decimals)| Format::new().set_num_format(number_format(unit, decimals)))
        })
        .collect();
    for (r, row) in table.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let col = c as u16;
            match cell {
                // Written as text, so a cell is never a formula.
                Cell::Text(t) => {
                    worksheet.write_string(r, col, t)?;
                }
                Cell::Number(Some(v)) if v.is_finite() => {
                    match formats.get(c).and_then(|f| f.as_ref()) {
                        Some(format) => {
                            worksheet.write_number_with_format(r, col, *v, format)?;
                        }
                        None => {
                            worksheet.write_number(r, col, *v)?;
                        }
                    }
                }
                Cell::Number(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            columns: vec![
                Column {
                    name: "KPI".into(),
                    number: None,
                },
                Column {
                    name: "Valor".into(),
                    number: Some((Unit::Currency, 0)),
                },
            ],
            rows: vec![
                vec![Cell::Text("Ventas".into()), Cell::Number(Some(1234567.5))],
                vec![
                    Cell::Text("=HYPERLINK(\"http://evil\")".into()),
                    Cell::Number(None),
                ],
                vec![Cell::Text("-2 + 3".into()), Cell::Number(Some(-0.25))],
            ],
        }
    }

    #[test]
    fn spanish_csv_uses_semicolons_decimal_commas_and_a_bom() {
        let bytes = csv_for_spreadsheets(&table(), Locale::Es).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "\u{feff}KPI;Valor\nVentas;1234567,5\n\"'=HYPERLINK(\"\"http://evil\"\")\";\n'-2 + 3;-0,25\n"
        );
    }

    #[test]
    fn english_csv_uses_commas_and_points() {
        let text = String::from_utf8(csv_for_spreadsheets(&table(), Locale::En).unwrap()).unwrap();
        assert!(text.starts_with("KPI,Valor\nVentas,1234567.5\n"), "{text}");
        assert!(text.contains("'-2 + 3,-0.25"), "{text}");
    }

    #[test]
    fn a_workbook_keeps_numbers_as_numbers_and_formulas_as_text() {
        use calamine::{Data, Reader, Xlsx};
        let bytes = xlsx(&table(), "Ventas: 2026/03").unwrap();
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let names = book.sheet_names();
        assert_eq!(names, ["Ventas 202603"]);
        let range = book.worksheet_range(&names[0]).unwrap();
        assert_eq!(range.get((1, 1)), Some(&Data::Float(1234567.5)));
        assert_eq!(
            range.get((2, 0)),
            Some(&Data::String("=HYPERLINK(\"http://evil\")".into())),
            "stored as text, not a formula"
        );
        assert_eq!(range.get((3, 1)), Some(&Data::Float(-0.25)));
    }
}
