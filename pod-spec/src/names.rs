//! Name checks (Kubernetes' validation rules) and "did you mean" hints.

/// RFC 1123 label: 1..=63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 63 {
        return Err(format!("{s:?} is longer than 63 characters"));
    }
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let b = s.as_bytes();
    if !ok_chars || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Err(format!(
            "{s:?} is not a valid DNS-1123 label: lower-case letters, digits and '-', starting \
             and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(|l| dns_label(l).is_ok())
}

/// IANA service name (a named port): 1..=15 of `[a-z0-9-]`, at least one letter, no leading,
/// trailing or double '-'.
pub fn port_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid port name: at most 15 lower-case letters, digits and '-', with \
             at least one letter"
        ))
    }
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters (a label key's name part
/// or a label value; values may also be empty).
fn qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !s.is_empty()
        && s.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A label or annotation key: `[prefix/]name`, prefix a DNS subdomain.
pub fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if prefix.is_some_and(|p| !dns_subdomain(p)) || !qualified_part(name) {
        return Err(format!(
            "{s:?} is not a valid key: an optional DNS subdomain prefix and '/', then at most 63 \
             letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() || qualified_part(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        ))
    }
}

/// An environment variable name: non-empty printable ASCII without '=' (Kubernetes' relaxed
/// rule).
pub fn env_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.contains('=') || !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(format!(
            "{s:?} is not a valid environment variable name: printable ASCII without '='"
        ));
    }
    Ok(())
}

/// Edit distance with adjacent transpositions (optimal string alignment), case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate, if close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(dns_label("nginx-php").is_ok());
        assert!(dns_label("a").is_ok());
        assert!(dns_label("Nginx").is_err());
        assert!(dns_label("-a").is_err());
        assert!(dns_label("a_b").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
        assert!(port_name("http").is_ok());
        assert!(port_name("80").is_err());
        assert!(port_name("a--b").is_err());
        assert!(qualified_name("app.kubernetes.io/name").is_ok());
        assert!(qualified_name("app").is_ok());
        assert!(qualified_name("Bad Key").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_3").is_ok());
        assert!(label_value("-x").is_err());
        assert!(env_name("MY_VAR.1").is_ok());
        assert!(env_name("A=B").is_err());
    }

    #[test]
    fn hints() {
        let fields = ["containerPort", "hostPort", "protocol", "name", "hostIP"];
        assert_eq!(did_you_mean("containerport", fields), Some("containerPort"));
        assert_eq!(did_you_mean("contianerPort", fields), Some("containerPort"));
        assert_eq!(did_you_mean("hostport", fields), Some("hostPort"));
        assert_eq!(did_you_mean("banana", fields), None);
        assert_eq!(did_you_mean("nmae", fields), Some("name"));
    }
}
