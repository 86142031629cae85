//! `tablero_local_day(t, zone)`: the first instant of the local day, in the IANA `zone`,
//! that holds the instant `t` — how a daily rollup ([`crate::rollup`]) keys its rows.
//!
//! A day is not always 24 hours (23 or 25 when the clocks change, and in some zones midnight
//! itself is skipped), so the day cannot be found by dividing. The function keeps the first
//! instants of the consecutive days its rows span, made by the calendar once and extended
//! when a row falls outside them, and finds each row's day by the sorted lookup of
//! [`crate::window_index`].

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use jiff::Timestamp;
use tablero_calendar::{Calendar, Grain};

use crate::window_index::Lookup;

/// The function's name in plans and generated SQL.
pub const NAME: &str = "tablero_local_day";

/// The most days kept: rows spanning more (centuries) find their day one by one.
const MAX_DAYS: i64 = 200_000;

/// The function, for a session (or a cluster node) to register.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalDay {
        signature: Signature::any(2, Volatility::Immutable),
        days: Mutex::new(None),
    })
}

/// The local day of the instant `t` in `calendar`'s zone.
pub fn call(t: Expr, calendar: &Calendar) -> Expr {
    let zone = calendar
        .time_zone()
        .iana_name()
        .unwrap_or("UTC")
        .to_string();
    udf().call(vec![t, lit(zone)])
}

/// Consecutive local days of one zone: `starts[k]` is the first instant (µs) of day `k`, the
/// last entry the end of the last day.
#[derive(Debug)]
struct Days {
    zone: String,
    starts: Arc<[i64]>,
}

#[derive(Debug)]
struct LocalDay {
    signature: Signature,
    /// The days found so far, shared by every batch the function sees.
    days: Mutex<Option<Days>>,
}

impl PartialEq for LocalDay {
    fn eq(&self, other: &LocalDay) -> bool {
        self.signature == other.signature
    }
}

impl Eq for LocalDay {}

impl std::hash::Hash for LocalDay {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
    }
}

fn day_start(calendar: &Calendar, micros: i64) -> Option<i64> {
    let t = Timestamp::from_microsecond(micros).ok()?;
    Some(calendar.day_start(t).as_microsecond())
}

impl LocalDay {
    /// Day starts covering `[lo, hi]`, extending those kept; `None` when the span is too long.
    fn covering(&self, calendar: &Calendar, zone: &str, lo: i64, hi: i64) -> Option<Arc<[i64]>> {
        let mut kept = self.days.lock().ok()?;
        if let Some(days) = kept.as_ref().filter(|d| d.zone == zone)
            && days.starts.first().is_some_and(|f| *f <= lo)
            && days.starts.last().is_some_and(|l| hi < *l)
        {
            return Some(days.starts.clone());
        }
        let (mut from, mut to) = (lo, hi);
        if let Some(days) = kept.as_ref().filter(|d| d.zone == zone) {
            from = from.min(*days.starts.first()?);
            to = to.max(*days.starts.last()? - 1);
        }
        let first = calendar.period_of(Grain::Day, Timestamp::from_microsecond(from).ok()?);
        let last = calendar.period_of(Grain::Day, Timestamp::from_microsecond(to).ok()?);
        if last.ordinal - first.ordinal > MAX_DAYS {
            return None;
        }
        let starts: Arc<[i64]> = (0..=last.ordinal - first.ordinal + 1)
            .map(|k| calendar.start(calendar.shift(first, k)).as_microsecond())
            .collect();
        *kept = Some(Days {
            zone: zone.to_string(),
            starts: starts.clone(),
        });
        Some(starts)
    }

    fn convert(
        &self,
        calendar: &Calendar,
        zone: &str,
        array: &dyn Array,
    ) -> Result<Arc<dyn Array>> {
        let DataType::Timestamp(TimeUnit::Microsecond, _) = array.data_type() else {
            return exec_err!("{NAME} expects an instant, got {}", array.data_type());
        };
        let times = array.as_primitive::<TimestampMicrosecondType>();
        let (Some(lo), Some(hi)) = (min(times), max(times)) else {
            return Ok(Arc::new(TimestampMicrosecondArray::new_null(times.len())));
        };
        let days: TimestampMicrosecondArray = match self.covering(calendar, zone, lo, hi) {
            Some(starts) => {
                let lookup = Lookup::new(&starts);
                times.unary(|x| starts[(lookup.position(x) - 1).max(0) as usize])
            }
            None => times.unary_opt(|x| day_start(calendar, x)),
        };
        Ok(Arc::new(days))
    }
}

impl ScalarUDFImpl for LocalDay {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        crate::local_time::invoke_zoned(NAME, &args, &|calendar, zone, array| {
            self.convert(calendar, zone, array)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each instant's day start, against the calendar's own answer row by row.
    #[test]
    fn days_across_clock_changes() {
        let calendar = Calendar::new("America/Santiago", 1).unwrap();
        let function = LocalDay {
            signature: Signature::any(2, Volatility::Immutable),
            days: Mutex::new(None),
        };
        // Every 7 hours over two years (both clock changes each year), then a batch before
        // and one after what was kept, which must extend it.
        let hour = 3_600_000_000_i64;
        let base = Timestamp::from_second(1_735_700_000)
            .unwrap()
            .as_microsecond();
        for (from, n) in [(0, 2_600), (-5_000, 100), (20_000, 100)] {
            let times: Vec<Option<i64>> = (0..n)
                .map(|k| Some(base + (from + k * 7) * hour))
                .chain([None])
                .collect();
            let array = TimestampMicrosecondArray::from(times.clone());
            let days = function
                .convert(&calendar, "America/Santiago", &array)
                .unwrap();
            let days = days.as_primitive::<TimestampMicrosecondType>();
            for (i, t) in times.iter().enumerate() {
                let expected = t.and_then(|t| day_start(&calendar, t));
                let got = (!days.is_null(i)).then(|| days.value(i));
                assert_eq!(got, expected, "row {i}: {t:?}");
            }
        }
    }
}
