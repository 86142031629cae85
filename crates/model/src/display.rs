//! How numbers read for people: the workspace locale's separators and each unit's symbol.
//!
//! Spanish (`es`, as in Chile): `1.234.567,5`, `27,5 %`, `$152.340.000`. English: `1,234,567.5`,
//! `27.5%`, `$152,340,000`.

use crate::defs::{Locale, Unit};

/// `value` with `decimals` digits and the locale's separators.
pub fn format_number(value: f64, decimals: u8, locale: Locale) -> String {
    let (group, point) = match locale {
        Locale::Es => ('.', ','),
        Locale::En => (',', '.'),
    };
    let text = format!("{:.*}", decimals as usize, value.abs());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (text, None),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let negative = value < 0.0
        && (grouped.chars().any(|c| c.is_ascii_digit() && c != '0')
            || frac.as_deref().is_some_and(|f| f.chars().any(|c| c != '0')));
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&grouped);
    if let Some(frac) = frac {
        out.push(point);
        out.push_str(&frac);
    }
    out
}

/// `value` in its unit: `27,5 %`, `$152.340.000`, `12,5 días`.
pub fn format_value(
    value: f64,
    unit: Unit,
    decimals: u8,
    locale: Locale,
    currency: &str,
) -> String {
    let n = format_number(value, decimals, locale);
    let es = locale == Locale::Es;
    match unit {
        Unit::Percent => {
            if es {
                format!("{n} %")
            } else {
                format!("{n}%")
            }
        }
        Unit::Currency => match currency {
            "EUR" => format!("{n} €"),
            "CLP" | "USD" | "MXN" | "ARS" | "COP" => {
                if let Some(rest) = n.strip_prefix('-') {
                    format!("-${rest}")
                } else {
                    format!("${n}")
                }
            }
            other => format!("{other} {n}"),
        },
        Unit::Days => {
            if es {
                format!("{n} días")
            } else {
                format!("{n} days")
            }
        }
        Unit::Hours => format!("{n} h"),
        Unit::Minutes => format!("{n} min"),
        Unit::Count | Unit::Ratio | Unit::Number => n,
    }
}

/// A status (`on_track`, `at_risk`, …) in words of the locale.
pub fn status_label(status: &str, locale: Locale) -> &'static str {
    match (locale, status) {
        (Locale::Es, "on_track") => "en meta",
        (Locale::Es, "at_risk") => "en riesgo",
        (Locale::Es, "off_track") => "fuera de meta",
        (Locale::Es, "no_data") => "sin datos",
        (Locale::Es, _) => "sin meta",
        (Locale::En, "on_track") => "on track",
        (Locale::En, "at_risk") => "at risk",
        (Locale::En, "off_track") => "off track",
        (Locale::En, "no_data") => "no data",
        (Locale::En, _) => "no target",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_locale() {
        let cases = [
            (1234567.5, 1, Locale::Es, "1.234.567,5"),
            (1234567.5, 1, Locale::En, "1,234,567.5"),
            (999.0, 0, Locale::Es, "999"),
            (1000.0, 0, Locale::Es, "1.000"),
            (-1234.56, 2, Locale::En, "-1,234.56"),
            (-0.001, 1, Locale::En, "0.0"),
            (0.0, 2, Locale::Es, "0,00"),
        ];
        for (value, decimals, locale, expected) in cases {
            assert_eq!(
                format_number(value, decimals, locale),
                expected,
                "{value} {decimals} {locale:?}"
            );
        }
    }

    #[test]
    fn units_have_their_symbols() {
        let cases = [
            (152340000.0, Unit::Currency, 0, Locale::Es, "$152.340.000"),
            (152340000.0, Unit::Currency, 0, Locale::En, "$152,340,000"),
            (27.5, Unit::Percent, 1, Locale::Es, "27,5 %"),
            (27.5, Unit::Percent, 1, Locale::En, "27.5%"),
            (12.26, Unit::Days, 1, Locale::Es, "12,3 días"),
            (42.0, Unit::Minutes, 0, Locale::En, "42 min"),
        ];
        for (value, unit, decimals, locale, expected) in cases {
            assert_eq!(format_value(value, unit, decimals, locale, "CLP"), expected);
        }
    }
}
