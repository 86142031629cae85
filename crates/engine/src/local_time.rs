//! `tablero_local_instant(x, zone)`: a calendar date, or a timestamp without zone, read as a
//! local time in the IANA `zone` (the workspace's) and turned into its instant (SPEC §2).
//!
//! Arrow's own cast of a zone-less value to a zone answers null for a local time that does not
//! exist (the hour skipped when clocks go forward — in Chile that is midnight, so a whole day's
//! dates would vanish) or that exists twice. The calendar resolves both the way it does for CSV
//! cells: a skipped time moves forward by the gap, a repeated one takes its first occurrence.
//!
//! The zone is an argument, not part of the function, so one registered function serves every
//! workspace — on this machine and on each node of a cluster ([`udf`] is what they register).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use jiff::civil::{Date, DateTime};
use tablero_calendar::Calendar;

/// The function's name in plans and generated SQL.
pub const NAME: &str = "tablero_local_instant";

/// The function, for a session (or a cluster node) to register.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalInstant {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

/// `x` read as a local time of `calendar`'s zone.
pub fn call(x: Expr, calendar: &Calendar) -> Expr {
    let zone = calendar
        .time_zone()
        .iana_name()
        .unwrap_or("UTC")
        .to_string();
    udf().call(vec![x, lit(zone)])
}

/// Calls `convert` with the calendar of a function's `(value, zone)` arguments — a zone given
/// as a constant IANA name — on the value's array (or a scalar's, answering a scalar).
pub(crate) fn invoke_zoned(
    name: &str,
    args: &ScalarFunctionArgs,
    convert: &dyn Fn(&Calendar, &str, &dyn Array) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let [arg, zone] = args.args.as_slice() else {
        return exec_err!("{name} takes a value and a time zone");
    };
    let zone = match zone {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(z)) | ScalarValue::Utf8View(Some(z))) => z,
        _ => return exec_err!("{name}: the time zone must be a constant text"),
    };
    let Ok(calendar) = Calendar::new(zone, 1) else {
        return exec_err!("{name}: unknown time zone `{zone}`");
    };
    match arg {
        ColumnarValue::Array(array) => Ok(ColumnarValue::Array(convert(
            &calendar,
            zone,
            array.as_ref(),
        )?)),
        ColumnarValue::Scalar(scalar) => {
            let array = scalar.to_array()?;
            let converted = convert(&calendar, zone, array.as_ref())?;
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &converted, 0,
            )?))
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalInstant {
    signature: Signature,
}

fn convert(calendar: &Calendar, array: &dyn Array) -> Result<ArrayRef> {
    let epoch = Date::constant(1970, 1, 1);
    let micros: TimestampMicrosecondArray = match array.data_type() {
        DataType::Date32 => array.as_primitive::<Date32Type>().unary_opt(|days| {
            let span = jiff::Span::new().try_days(i64::from(days)).ok()?;
            let date = epoch.checked_add(span).ok()?;
            Some(calendar.date_start(date).as_microsecond())
        }),
        DataType::Timestamp(TimeUnit::Microsecond, None) => array
            .as_primitive::<TimestampMicrosecondType>()
            .unary_opt(|wall| {
                let civil: DateTime = jiff::Timestamp::from_microsecond(wall)
                    .ok()?
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .datetime();
                Some(calendar.local_instant(civil).as_microsecond())
            }),
        other => {
            return exec_err!("{NAME} expects a date or a zone-less timestamp, got {other}");
        }
    };
    Ok(Arc::new(micros))
}

impl ScalarUDFImpl for LocalInstant {
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
        invoke_zoned(NAME, &args, &|calendar, _, array| convert(calendar, array))
    }
}
