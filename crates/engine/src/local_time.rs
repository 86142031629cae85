//! `tablero_local_instant(x)`: a calendar date, or a timestamp without zone, read as a local
//! time in the workspace's zone and turned into its instant (SPEC §2).
//!
//! Arrow's own cast of a zone-less value to a zone answers null for a local time that does not
//! exist (the hour skipped when clocks go forward — in Chile that is midnight, so a whole day's
//! dates would vanish) or that exists twice. The calendar resolves both the way it does for CSV
//! cells: a skipped time moves forward by the gap, a repeated one takes its first occurrence.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use jiff::civil::{Date, DateTime};
use tablero_calendar::Calendar;

/// The function's name in plans and generated SQL.
pub const NAME: &str = "tablero_local_instant";

/// The UDF for `calendar`'s zone.
pub fn udf(calendar: &Calendar) -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalInstant {
        calendar: calendar.clone(),
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug)]
struct LocalInstant {
    calendar: Calendar,
    signature: Signature,
}

impl LocalInstant {
    fn zone(&self) -> &str {
        self.calendar.time_zone().iana_name().unwrap_or("UTC")
    }

    fn convert(&self, array: &dyn Array) -> Result<ArrayRef> {
        let epoch = Date::constant(1970, 1, 1);
        let micros: TimestampMicrosecondArray = match array.data_type() {
            DataType::Date32 => array.as_primitive::<Date32Type>().unary_opt(|days| {
                let span = jiff::Span::new().try_days(i64::from(days)).ok()?;
                let date = epoch.checked_add(span).ok()?;
                Some(self.calendar.date_start(date).as_microsecond())
            }),
            DataType::Timestamp(TimeUnit::Microsecond, None) => array
                .as_primitive::<TimestampMicrosecondType>()
                .unary_opt(|wall| {
                    let civil: DateTime = jiff::Timestamp::from_microsecond(wall)
                        .ok()?
                        .to_zoned(jiff::tz::TimeZone::UTC)
                        .datetime();
                    Some(self.calendar.local_instant(civil).as_microsecond())
                }),
            other => {
                return exec_err!("{NAME} expects a date or a zone-less timestamp, got {other}");
            }
        };
        Ok(Arc::new(micros))
    }
}

impl PartialEq for LocalInstant {
    fn eq(&self, other: &Self) -> bool {
        self.zone() == other.zone()
    }
}

impl Eq for LocalInstant {}

impl Hash for LocalInstant {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.zone().hash(state);
    }
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
        let [arg] = args.args.as_slice() else {
            return exec_err!("{NAME} takes one argument");
        };
        match arg {
            ColumnarValue::Array(array) => Ok(ColumnarValue::Array(self.convert(array.as_ref())?)),
            ColumnarValue::Scalar(scalar) => {
                let array = scalar.to_array()?;
                let converted = self.convert(array.as_ref())?;
                Ok(ColumnarValue::Scalar(
                    datafusion::common::ScalarValue::try_from_array(&converted, 0)?,
                ))
            }
        }
    }
}
