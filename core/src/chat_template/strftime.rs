//! `strftime_now(format)`, a global that transformers gives chat templates
//! (Llama 3.x templates print today's date with it).
//!
//! Python formats the local time; we format UTC, which needs no time-zone
//! database and differs only around midnight. The common conversions are
//! supported; an unknown one is an error rather than silently wrong text.

use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::{Error, ErrorKind};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct UtcTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Monday.
    weekday: u32,
    /// 1-based day of the year.
    yday: u32,
}

impl UtcTime {
    pub(crate) fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let jan1 = days_from_civil(year, 1, 1);
        UtcTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday (3 with Monday = 0).
            weekday: (days + 3).rem_euclid(7) as u32,
            yday: (days - jan1 + 1) as u32,
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats `t` with C/Python `strftime` conversions.
pub(crate) fn format_time(t: &UtcTime, format: &str) -> Result<String, Error> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(Error::new(ErrorKind::InvalidOperation, "strftime_now: format ends with a lone '%'"));
        };
        let month = MONTHS[(t.month - 1) as usize];
        let weekday = WEEKDAYS[t.weekday as usize];
        let hour12 = if t.hour.is_multiple_of(12) { 12 } else { t.hour % 12 };
        match spec {
            'Y' => out.push_str(&t.year.to_string()),
            'y' => out.push_str(&format!("{:02}", t.year.rem_euclid(100))),
            'm' => out.push_str(&format!("{:02}", t.month)),
            'd' => out.push_str(&format!("{:02}", t.day)),
            'e' => out.push_str(&format!("{:>2}", t.day)),
            'B' => out.push_str(month),
            'b' | 'h' => out.push_str(&month[..3]),
            'A' => out.push_str(weekday),
            'a' => out.push_str(&weekday[..3]),
            'H' => out.push_str(&format!("{:02}", t.hour)),
            'I' => out.push_str(&format!("{hour12:02}")),
            'M' => out.push_str(&format!("{:02}", t.minute)),
            'S' => out.push_str(&format!("{:02}", t.second)),
            'p' => out.push_str(if t.hour < 12 { "AM" } else { "PM" }),
            'j' => out.push_str(&format!("{:03}", t.yday)),
            'F' => out.push_str(&format!("{}-{:02}-{:02}", t.year, t.month, t.day)),
            'T' => out.push_str(&format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)),
            'Z' => out.push_str("UTC"),
            'z' => out.push_str("+0000"),
            '%' => out.push('%'),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: unsupported conversion %{other}"),
                ))
            }
        }
    }
    Ok(out)
}

/// The `strftime_now` global.
pub(crate) fn strftime_now(format: &str) -> Result<String, Error> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    format_time(&UtcTime::from_unix(secs), format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_like_python() {
        // 2024-02-29T13:05:09Z, a Thursday, day 60 of a leap year.
        let t = UtcTime::from_unix(1_709_211_909);
        assert_eq!(format_time(&t, "%d %b %Y").unwrap(), "29 Feb 2024");
        assert_eq!(
            format_time(&t, "%A %B %e, %y %I:%M:%S %p %j %%").unwrap(),
            "Thursday February 29, 24 01:05:09 PM 060 %"
        );
        assert_eq!(format_time(&UtcTime::from_unix(0), "%F %T %a").unwrap(), "1970-01-01 00:00:00 Thu");
        // Before the epoch.
        assert_eq!(format_time(&UtcTime::from_unix(-86_400), "%F %a %j").unwrap(), "1969-12-31 Wed 365");
    }

    #[test]
    fn unknown_conversion_is_an_error() {
        assert!(format_time(&UtcTime::from_unix(0), "%Q").is_err());
    }
}
