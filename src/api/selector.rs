//! Kubernetes names and label selectors checked as the API server checks them
//! (k8s.io/apimachinery `labels.Parse` and `validation`), so that a flag the API server would
//! refuse at the first list is refused when the controller starts (exit 2), naming the problem.

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters: a label name or value.
fn is_label_part(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || "-_.".contains(c))
}

/// A DNS-1123 label: lowercase letters, digits and '-', starting and ending alphanumeric, at most
/// 63 characters (a namespace name).
pub fn is_dns1123_label(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(ok)
        && s.ends_with(ok)
        && s.chars().all(|c| ok(c) || c == '-')
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if !is_dns1123_subdomain(p) {
            return Err(format!(
                "invalid label key '{key}': the prefix must be a DNS-1123 subdomain"
            ));
        }
    }
    if !is_label_part(name) {
        return Err(format!(
            "invalid label key '{key}': the name must be 1-63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"
        ));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_part(value) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value '{value}': at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    In,
    NotIn,
    Open,
    Close,
    Comma,
}

fn tokens(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            '>' => {
                out.push(Token::Gt);
                i += 1
            }
            '<' => {
                out.push(Token::Lt);
                i += 1
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::NotEq);
                i += 2
            }
            '!' => {
                out.push(Token::Not);
                i += 1
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::DoubleEq);
                i += 2
            }
            '=' => {
                out.push(Token::Eq);
                i += 1
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"(),!=<>".contains(chars[i])
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                });
            }
        }
    }
    Ok(out)
}

/// Checks a label selector as `labels.Parse` does: comma-separated requirements `key`, `!key`,
/// `key=v`, `key==v`, `key!=v`, `key>n`, `key<n`, `key in (v1,v2)`, `key notin (v1,v2)`.
pub fn check_label_selector(selector: &str) -> Result<(), String> {
    let toks = tokens(selector)?;
    let mut i = 0;
    let bad = |what: &str| Err(format!("invalid label selector '{selector}': {what}"));
    if toks.is_empty() {
        return Ok(());
    }
    loop {
        // One requirement.
        let negated = toks.get(i) == Some(&Token::Not);
        if negated {
            i += 1;
        }
        let key = match toks.get(i) {
            Some(Token::Ident(k)) => k.clone(),
            _ => return bad("expected a label key"),
        };
        check_key(&key).map_err(|e| format!("invalid label selector '{selector}': {e}"))?;
        i += 1;
        if !negated {
            match toks.get(i) {
                None | Some(Token::Comma) => {}
                Some(Token::Eq | Token::DoubleEq | Token::NotEq) => {
                    i += 1;
                    match toks.get(i) {
                        Some(Token::Ident(v)) => {
                            check_value(v)
                                .map_err(|e| format!("invalid label selector '{selector}': {e}"))?;
                            i += 1;
                        }
                        // `key=` selects an empty value.
                        None | Some(Token::Comma) => {}
                        _ => return bad("expected a value after the operator"),
                    }
                }
                Some(Token::Gt | Token::Lt) => {
                    i += 1;
                    match toks.get(i) {
                        Some(Token::Ident(v)) if v.parse::<i64>().is_ok() => i += 1,
                        _ => return bad("'>' and '<' need an integer value"),
                    }
                }
                Some(Token::In | Token::NotIn) => {
                    i += 1;
                    if toks.get(i) != Some(&Token::Open) {
                        return bad("expected '(' after in/notin");
                    }
                    i += 1;
                    let mut values = 0;
                    loop {
                        match toks.get(i) {
                            Some(Token::Ident(v)) => {
                                check_value(v).map_err(|e| {
                                    format!("invalid label selector '{selector}': {e}")
                                })?;
                                values += 1;
                                i += 1;
                            }
                            Some(Token::Close) if values > 0 => {
                                i += 1;
                                break;
                            }
                            Some(Token::Close) => return bad("in/notin need at least one value"),
                            _ => return bad("unterminated value set: expected ')'"),
                        }
                        match toks.get(i) {
                            Some(Token::Comma) => i += 1,
                            Some(Token::Close) => {
                                i += 1;
                                break;
                            }
                            _ => return bad("expected ',' or ')' in the value set"),
                        }
                    }
                }
                _ => return bad("expected an operator (=, ==, !=, in, notin) or ','"),
            }
        }
        match toks.get(i) {
            None => return Ok(()),
            Some(Token::Comma) => {
                i += 1;
                if i >= toks.len() {
                    return bad("a requirement after ','");
                }
            }
            _ => return bad("expected ',' between requirements"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_the_api_server_takes_and_refuses() {
        for ok in [
            "",
            "app",
            "!app",
            "sharding.fluxcd.io/key=shard1",
            "sharding.fluxcd.io/key in (shard1, shard2)",
            "tier notin (frontend),env!=prod",
            "a==b",
            "a=",
            "n>3",
        ] {
            assert!(
                check_label_selector(ok).is_ok(),
                "{ok}: {:?}",
                check_label_selector(ok)
            );
        }
        for bad in [
            "a in (",
            "!!!",
            "a in ()",
            "a b",
            "a=b=c",
            "Bad_Prefix/x=y",
            "a=-b",
            ",a",
            "a,",
            "n>x",
            &format!("a={}", "v".repeat(64)),
        ] {
            assert!(check_label_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces_are_dns1123_labels() {
        assert!(is_dns1123_label("flux-system"));
        for bad in ["Bad_NS", "-a", "a-", "", &"a".repeat(64), "a.b"] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }
}
