//! Success-code matchers as load balancers write them: "200", "200-299", "200,202,301" (HTTP),
//! and gRPC codes ("0", "0-99"). Pure.

/// Parsed ranges, or None when the text is not a matcher.
pub fn parse(s: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let n: u16 = part.parse().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi > 599 {
            return None;
        }
        out.push((lo, hi));
    }
    (!out.is_empty()).then_some(out)
}

/// Whether `code` is a success for `matcher` (an unparseable matcher matches nothing).
pub fn matches(matcher: &str, code: u16) -> bool {
    parse(matcher).is_some_and(|r| r.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_table() {
        for (m, code, ok) in [
            ("200", 200, true),
            ("200", 204, false),
            ("200-299", 204, true),
            ("200-299", 300, false),
            ("200,202,301", 301, true),
            ("200,202,301", 201, false),
            (" 200 , 204 ", 204, true),
            ("0", 0, true),
            ("0-99", 12, true),
            ("2xx", 200, false),
            ("300-200", 250, false),
            ("", 200, false),
            ("200-700", 200, false),
        ] {
            assert_eq!(matches(m, code), ok, "{m:?} vs {code}");
        }
        assert_eq!(parse("200,202-204"), Some(vec![(200, 200), (202, 204)]));
        assert_eq!(parse("abc"), None);
    }
}
