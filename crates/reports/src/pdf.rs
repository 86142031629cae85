//! A scorecard as a PDF: A4 landscape pages, Helvetica (one of the fonts every PDF reader
//! has, so nothing is embedded) in the WinAnsi encoding, which covers Spanish.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// One table to print: a title, a subtitle, column headers, rows of cells (all text), and
/// which columns are numbers (right-aligned).
pub struct Sheet<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub headers: &'a [&'a str],
    /// Left edge of each column, in points from the page's left.
    pub columns: &'a [f32],
    pub numeric: &'a [bool],
    pub rows: &'a [Vec<String>],
}

const WIDTH: f32 = 842.0;
const HEIGHT: f32 = 595.0;
const MARGIN: f32 = 36.0;
const ROW: f32 = 15.0;
const SIZE: f32 = 9.0;

/// The sheet as PDF bytes.
pub fn render(sheet: &Sheet<'_>) -> Vec<u8> {
    let rows_per_page = ((HEIGHT - 2.0 * MARGIN - 60.0) / ROW).floor().max(1.0) as usize;
    let pages: Vec<&[Vec<String>]> = if sheet.rows.is_empty() {
        vec![&[]]
    } else {
        sheet.rows.chunks(rows_per_page).collect()
    };
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let first_page = 5;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(first_page + 2 * i as i32))
        .collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    for (font, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(font)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (n, (rows, id)) in pages.iter().zip(&page_ids).enumerate() {
        let content_id = Ref::new(id.get() + 1);
        let mut page = pdf.page(*id);
        page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT));
        page.parent(tree);
        page.contents(content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), regular);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        resources.finish();
        page.finish();

        let mut content = Content::new();
        let mut y = HEIGHT - MARGIN - 14.0;
        text(&mut content, b"F2", 15.0, MARGIN, y, sheet.title);
        y -= 18.0;
        let subtitle = if pages.len() > 1 {
            format!("{} · {}/{}", sheet.subtitle, n + 1, pages.len())
        } else {
            sheet.subtitle.to_string()
        };
        text(&mut content, b"F1", SIZE, MARGIN, y, &subtitle);
        y -= 24.0;
        row(&mut content, b"F2", sheet, y, sheet.headers.iter().copied());
        y -= 4.0;
        content
            .set_line_width(0.5)
            .move_to(MARGIN, y)
            .line_to(WIDTH - MARGIN, y)
            .stroke();
        y -= ROW - 2.0;
        for cells in rows.iter() {
            row(
                &mut content,
                b"F1",
                sheet,
                y,
                cells.iter().map(String::as_str),
            );
            y -= ROW;
        }
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

fn row<'t>(
    content: &mut Content,
    font: &[u8],
    sheet: &Sheet<'_>,
    y: f32,
    cells: impl Iterator<Item = &'t str>,
) {
    for (i, cell) in cells.enumerate() {
        let Some(&left) = sheet.columns.get(i) else {
            break;
        };
        let right = sheet.columns.get(i + 1).copied().unwrap_or(WIDTH - MARGIN) - 8.0;
        let width = right - left;
        let cell = fit(cell, width);
        let x = if sheet.numeric.get(i).copied().unwrap_or(false) {
            right - estimate(&cell)
        } else {
            left
        };
        text(content, font, SIZE, x, y, &cell);
    }
}

fn text(content: &mut Content, font: &[u8], size: f32, x: f32, y: f32, text: &str) {
    content.begin_text();
    content.set_font(Name(font), size);
    content.next_line(x, y);
    content.show(Str(&win_ansi(text)));
    content.end_text();
}

/// Helvetica's average width at 9 points is about half the size per character: enough to
/// right-align numbers and to cut a long name before it runs into the next column.
fn estimate(text: &str) -> f32 {
    text.chars().count() as f32 * SIZE * 0.52
}

fn fit(text: &str, width: f32) -> String {
    if estimate(text) <= width {
        return text.to_string();
    }
    let keep = ((width / (SIZE * 0.52)) as usize).saturating_sub(1);
    let mut cut: String = text.chars().take(keep).collect();
    cut.push('…');
    cut
}

/// `text` in the WinAnsi encoding: Latin-1 as is, the typographic marks of Windows-1252 at
/// their codes, anything else as `?`.
pub fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '\u{202f}' => b' ',
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_text_is_win_ansi() {
        assert_eq!(win_ansi("Año — ñ 5 €"), b"A\xf1o \x97 \xf1 5 \x80".to_vec());
        assert_eq!(win_ansi("▲"), b"?".to_vec());
    }

    #[test]
    fn a_sheet_is_a_pdf_with_a_page_per_chunk_of_rows() {
        let rows: Vec<Vec<String>> = (0..60)
            .map(|i| vec![format!("KPI {i}"), format!("{i}")])
            .collect();
        let bytes = render(&Sheet {
            title: "Dirección",
            subtitle: "2026-03",
            headers: &["KPI", "Valor"],
            columns: &[36.0, 400.0],
            numeric: &[false, true],
            rows: &rows,
        });
        assert!(bytes.starts_with(b"%PDF-"));
        // 30 rows fit on a page (595 points less margins and headings, 15 a row).
        assert!(
            String::from_utf8_lossy(&bytes).contains("/Count 2"),
            "60 rows need two pages"
        );
    }
}
