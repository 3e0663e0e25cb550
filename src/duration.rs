//! Go/Flux duration strings ("90s", "5m", "1h30m", "500ms"), as used by Flux `interval`/`timeout`
//! and by the CLI's `--timeout`.
//!
//! Parsing uses integer arithmetic with overflow checks and refuses anything above
//! [`MAX_DURATION`]: a duration comes from users (flags, CRD fields that one tenant controls) and
//! ends up in `Instant + Duration` and in kube-runtime's scheduler, both of which panic on
//! overflow. One tenant's typo must never crash the controller for everyone.

use std::time::Duration;

/// The longest duration accepted anywhere (8760h, one year). Long enough for any interval or
/// timeout a user means; far below what `Instant` arithmetic and timer wheels can hold.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The longest duration string accepted, so that parsing work stays trivially bounded.
pub const MAX_DURATION_LEN: usize = 64;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a Go duration string (no sign; units ns, us/µs, ms, s, m, h; decimal fractions).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s.len() > MAX_DURATION_LEN {
        return Err(format!(
            "invalid duration: longer than {MAX_DURATION_LEN} characters"
        ));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let too_long =
        || format!("invalid duration '{s}': longer than the maximum of 8760h (one year)");
    let max_nanos = MAX_DURATION.as_nanos();
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(n)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(format!("invalid duration '{s}': expected a number"));
        }
        let unit_len = after_num
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_num.len());
        let (unit, after_unit) = after_num.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            "" => {
                return Err(format!(
                    "invalid duration '{s}': missing unit (ms, s, m or h)"
                ))
            }
            u => return Err(format!("invalid duration '{s}': unknown unit '{u}'")),
        };
        // Whole part: digits are bounded by MAX_DURATION_LEN, but a long run of digits still
        // overflows u128, hence the checked arithmetic.
        let mut whole: u128 = 0;
        for d in int_part.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(d - b'0')))
                .ok_or_else(too_long)?;
            if whole > max_nanos {
                return Err(too_long());
            }
        }
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(too_long)?;
        // Fraction: Go keeps the precision of the unit; digits beyond nanoseconds are dropped.
        let mut scale = unit_nanos;
        for d in frac_part.bytes() {
            if scale < 10 {
                break;
            }
            scale /= 10;
            nanos += u128::from(d - b'0') * scale;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        if total > max_nanos {
            return Err(too_long());
        }
        rest = after_unit;
    }
    let secs = (total / NANOS_PER_SEC) as u64;
    let sub = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, sub))
}

/// The grammar of an OsmSync's `interval`, `retryInterval` and `timeout`, exactly as the CRD's
/// `pattern` says it ([`SPEC_DURATION_PATTERN`]): one to four components of 1–8 digits, an
/// optional fraction of 1–9 digits and a unit.
pub const SPEC_DURATION_PATTERN: &str = r"^([0-9]{1,8}(\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$";

/// The CRD's CEL rule for the same fields: more than zero, at most [`MAX_DURATION`].
pub const SPEC_DURATION_RULE: &str =
    "duration(self) > duration('0s') && duration(self) <= duration('8760h')";

/// Parses an OsmSync duration field: accepted exactly when the CRD's `pattern` and CEL rule
/// accept it, so that what the API server admits the controller never refuses (and the other
/// way round): the pattern's grammar, more than zero, at most 8760h.
pub fn parse_spec_duration(s: &str) -> Result<Duration, String> {
    if !matches_spec_grammar(s) {
        return Err(format!(
            "invalid duration '{s}': expected one to four of <1-8 digits>[.<1-9 digits>]<unit> (units ns, us, ms, s, m, h), e.g. 5m or 1h30m"
        ));
    }
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("invalid duration '{s}': must be more than 0")),
        d => Ok(d),
    }
}

/// [`SPEC_DURATION_PATTERN`] without a regex engine.
fn matches_spec_grammar(s: &str) -> bool {
    let mut rest = s;
    let mut components = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=8).contains(&int_len) {
            return false;
        }
        rest = &rest[int_len..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if !(1..=9).contains(&n) {
                return false;
            }
            rest = &frac[n..];
        }
        // Longest unit first, as the regex's alternation backtracks to it.
        let Some(unit) = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| rest.starts_with(**u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
        components += 1;
    }
    (1..=4).contains(&components)
}

/// Formats like Go's `time.Duration.String()` for whole seconds ("5m0s", "1h30m0s", "1.5s").
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac = d.subsec_millis();
    let sec = if frac > 0 {
        format!("{s}.{:03}", frac).trim_end_matches('0').to_owned()
    } else {
        s.to_string()
    };
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, m) => format!("{m}m{sec}s"),
        (h, m) => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("8760h").unwrap(), MAX_DURATION);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration(".s").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(format_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn huge_values_are_refused_not_panicked_on() {
        // The values that crashed the CLI (after writing to OSM) and the controller.
        for s in [
            "10000000000000000000s",
            "18446744073709551615s",
            "99999999999999999999h",
            "8760h1ns",
            "8761h",
            "525601m",
            "340282366920938463463374607431768211456ns",
        ] {
            let err = parse_duration(s).unwrap_err();
            assert!(
                err.contains("maximum of 8760h") || err.contains("characters"),
                "{s}: {err}"
            );
        }
    }

    #[test]
    fn spec_durations_are_what_the_crd_admits() {
        for ok in [
            "5m", "1h30m", "90s", "1.5h", "100ms", "8760h", "1h1h1h1h", "10us",
        ] {
            assert!(parse_spec_duration(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0s",
            "0",
            "0h0m",
            "",
            " 5m",
            "5m ",
            ".5s",
            "5.s",
            "123456789s",
            "1.1234567890s",
            "1s1s1s1s1s",
            "99999999h",
            "8760h1ns",
            "-5s",
            "5d",
            "5",
        ] {
            assert!(parse_spec_duration(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn never_panics_on_digit_soup(s in "[0-9.]{0,40}(ns|us|ms|s|m|h)?([0-9.]{0,30}(ns|us|ms|s|m|h))?") {
            if let Ok(d) = parse_duration(&s) {
                prop_assert!(d <= MAX_DURATION);
            }
        }

        #[test]
        fn components_add_up(h in 0u64..8000, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
            let text = format!("{h}h{m}m{s}s{ms}ms");
            let want = Duration::from_millis(((h * 60 + m) * 60 + s) * 1000 + ms);
            prop_assert_eq!(parse_duration(&text).unwrap(), want);
        }

        #[test]
        fn formatted_whole_seconds_parse_back(secs in 1u64..(365 * 24 * 3600)) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
