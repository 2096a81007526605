//! Kubernetes resource quantities (`500m`, `0.5`, `2`, `128Mi`, `1G`, `1e3`, ...).
//!
//! The grammar is Kubernetes' (`k8s.io/apimachinery/pkg/api/resource`):
//! `[+-]<digits>[.<digits>]` followed by nothing, a decimal SI suffix (`n u m k M G T P E`), a
//! binary suffix (`Ki Mi Gi Ti Pi Ei`) or a decimal exponent (`e3`, `E-2`). The value is kept
//! exactly in nano-units; anything finer than 1n is rounded up, as Kubernetes does.

use std::fmt;

/// An exact quantity, in billionths of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{0:?} is not a Kubernetes quantity (examples: 500m, 0.5, 2, 128Mi, 1G, 1e3)")]
    Syntax(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// A quantity of exactly `nanos` billionths.
    pub fn from_nanos(nanos: i128) -> Quantity {
        Quantity { nanos }
    }

    pub fn nanos(self) -> i128 {
        self.nanos
    }

    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// Thousandths (millicpu), rounded up; `None` if negative or beyond `u64`.
    pub fn millis_ceil(self) -> Option<u64> {
        ceil_div(self.nanos, 1_000_000)
    }

    /// Whole units (bytes), rounded up; `None` if negative or beyond `u64`.
    pub fn units_ceil(self) -> Option<u64> {
        ceil_div(self.nanos, NANO)
    }
}

fn ceil_div(n: i128, d: i128) -> Option<u64> {
    if n < 0 {
        return None;
    }
    u64::try_from((n + d - 1) / d).ok()
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Parse a quantity.
pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
    let syntax = || QuantityError::Syntax(s.to_string());
    let too_large = || QuantityError::TooLarge(s.to_string());
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[f..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(syntax());
    }
    let suffix = &s[i..];
    // (power of ten, power of 1024)
    let (mut exp10, bin): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or_else(syntax)?;
            let (neg, digits) = match rest.as_bytes().first() {
                Some(b'-') => (true, &rest[1..]),
                Some(b'+') => (false, &rest[1..]),
                _ => (false, rest),
            };
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(syntax());
            }
            // Clamp: beyond ±10_000 the answer (too large / rounds to 1n) is already decided.
            let e = digits
                .trim_start_matches('0')
                .parse::<i64>()
                .unwrap_or(0)
                .min(10_000);
            let e = if digits.trim_start_matches('0').len() > 6 {
                10_000
            } else {
                e
            };
            (if neg { -e } else { e }, 0)
        }
    };
    // Mantissa: significant digits only.
    let frac_digits = frac_digits.trim_end_matches('0');
    let mut mantissa_digits = String::with_capacity(int_digits.len() + frac_digits.len());
    mantissa_digits.push_str(int_digits);
    mantissa_digits.push_str(frac_digits);
    let mantissa_digits = mantissa_digits.trim_start_matches('0');
    exp10 -= i64::try_from(frac_digits.len()).map_err(|_| too_large())?;
    exp10 += 9; // to nanos
    if mantissa_digits.is_empty() {
        return Ok(Quantity::ZERO);
    }
    // Trailing zeros of the integer part move into the exponent too.
    let significant = mantissa_digits.trim_end_matches('0');
    exp10 += i64::try_from(mantissa_digits.len() - significant.len()).map_err(|_| too_large())?;
    // Only digits remain, so a failure can only be an overflow.
    let m: u128 = significant.parse().map_err(|_| too_large())?;
    let scaled = m.checked_mul(1u128 << (10 * bin)).ok_or_else(too_large)?;
    let magnitude: u128 = if exp10 >= 0 {
        let e = u32::try_from(exp10).map_err(|_| too_large())?;
        10u128
            .checked_pow(e)
            .and_then(|p| scaled.checked_mul(p))
            .ok_or_else(too_large)?
    } else {
        let e = u32::try_from(-exp10).unwrap_or(u32::MAX);
        match 10u128.checked_pow(e) {
            Some(p) => scaled.div_ceil(p),
            None => 1, // smaller than 1n and not zero: rounds up to 1n
        }
    };
    let nanos = i128::try_from(magnitude).map_err(|_| too_large())?;
    Ok(Quantity {
        nanos: if negative { -nanos } else { nanos },
    })
}

impl fmt::Display for Quantity {
    /// A canonical form that parses back to the same value: binary suffixes for whole multiples
    /// of 1024, else the largest exact decimal suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0");
        }
        let sign = if n < 0 { "-" } else { "" };
        let a = n.unsigned_abs();
        let nano = NANO.unsigned_abs();
        if a.is_multiple_of(nano) {
            let units = a / nano;
            for (k, suffix) in [
                (6u32, "Ei"),
                (5, "Pi"),
                (4, "Ti"),
                (3, "Gi"),
                (2, "Mi"),
                (1, "Ki"),
            ] {
                let p = 1u128 << (10 * k);
                if units.is_multiple_of(p) {
                    return write!(f, "{sign}{}{suffix}", units / p);
                }
            }
            for (e, suffix) in [
                (18u32, "E"),
                (15, "P"),
                (12, "T"),
                (9, "G"),
                (6, "M"),
                (3, "k"),
            ] {
                let p = 10u128.pow(e);
                if units.is_multiple_of(p) {
                    return write!(f, "{sign}{}{suffix}", units / p);
                }
            }
            return write!(f, "{sign}{units}");
        }
        if a.is_multiple_of(1_000_000) {
            write!(f, "{sign}{}m", a / 1_000_000)
        } else if a.is_multiple_of(1_000) {
            write!(f, "{sign}{}u", a / 1_000)
        } else {
            write!(f, "{sign}{a}n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn cpu_table() {
        for (s, millis) in [
            ("500m", 500),
            ("0.5", 500),
            ("2", 2000),
            ("1e3", 1_000_000),
            ("1E3", 1_000_000),
            ("0.1", 100),
            (".1", 100),
            ("1.", 1000),
            ("+1", 1000),
            ("100m", 100),
            ("0.0001", 1), // rounded up
            ("1500u", 2),
            ("0", 0),
            ("0.000", 0),
            ("1k", 1_000_000),
            ("25e-3", 25),
        ] {
            assert_eq!(q(s).millis_ceil(), Some(millis), "{s}");
        }
    }

    #[test]
    fn memory_table() {
        for (s, bytes) in [
            ("128Mi", 128 << 20),
            ("1G", 1_000_000_000),
            ("1Gi", 1 << 30),
            ("1e3", 1000),
            ("1.5Gi", 3 << 29),
            ("64Ki", 65536),
            ("2Ti", 2u64 << 40),
            ("1Ei", 1u64 << 60),
            ("8E", 8_000_000_000_000_000_000),
            ("129M", 129_000_000),
            ("123", 123),
            ("0.5Ki", 512),
            ("1m", 1), // rounded up
            ("000000000000000000000000000000000000000000001", 1),
            ("1.00000000000000000000000000000000000000000000", 1),
        ] {
            assert_eq!(q(s).units_ceil(), Some(bytes), "{s}");
        }
    }

    #[test]
    fn rejects() {
        for s in [
            "", "m", "Mi", "1MB", "1mi", "1 Mi", " 1", "1e", "1e+", "1.2.3", "--1", "1Ki2", "0x10",
            "1K", "e3", "1ee3", ".", "+", "-", "1_000",
        ] {
            assert!(parse(s).is_err(), "{s:?} should be rejected");
        }
        assert!(matches!(parse("1e400"), Err(QuantityError::TooLarge(_))));
        assert!(matches!(
            parse("99999999999999999999999999999999999999999Ei"),
            Err(QuantityError::TooLarge(_))
        ));
        assert_eq!(q("-1").units_ceil(), None);
        assert_eq!(q("1e-400"), Quantity::from_nanos(1));
        assert_eq!(q("0e999999999999"), Quantity::ZERO);
        assert_eq!(q("20E").units_ceil(), None); // beyond u64
    }

    #[test]
    fn display() {
        for (s, shown) in [
            ("0.5", "500m"),
            ("128Mi", "128Mi"),
            ("1G", "1G"),
            ("1e3", "1k"),
            ("1024", "1Ki"),
            ("1.5", "1500m"),
            ("-2", "-2"),
            ("1n", "1n"),
            ("1000n", "1u"),
            ("0", "0"),
        ] {
            assert_eq!(q(s).to_string(), shown, "{s}");
        }
    }

    proptest! {
        #[test]
        fn display_roundtrips(nanos in any::<i128>().prop_filter("not MIN", |n| *n != i128::MIN)) {
            let x = Quantity::from_nanos(nanos);
            prop_assert_eq!(parse(&x.to_string()), Ok(x));
        }

        #[test]
        fn small_values_roundtrip(nanos in -1_000_000_000_000_000i128..1_000_000_000_000_000) {
            let x = Quantity::from_nanos(nanos);
            prop_assert_eq!(parse(&x.to_string()), Ok(x));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn grammar_strings_parse(
            sign in "[+-]?",
            int in "[0-9]{0,12}",
            frac in "(\\.[0-9]{0,12})?",
            suffix in "(|n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]{1,2})",
        ) {
            let s = format!("{sign}{int}{frac}{suffix}");
            let has_digit = int.chars().chain(frac.chars()).any(|c| c.is_ascii_digit());
            let syntax_error = matches!(parse(&s), Err(QuantityError::Syntax(_)));
            prop_assert_eq!(!syntax_error, has_digit, "{}", s);
        }

        #[test]
        fn integers_are_exact(n in 0u64..u64::MAX / 2000) {
            prop_assert_eq!(parse(&n.to_string()).unwrap().units_ceil(), Some(n));
            prop_assert_eq!(parse(&format!("{n}m")).unwrap().millis_ceil(), Some(n));
        }
    }
}
