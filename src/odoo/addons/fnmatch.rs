//! Python's `fnmatch` for the exclude patterns: `*` (also across `/`), `?`,
//! `[...]` and `[!...]`, on characters.

/// Whether `name` matches the parsed pattern `tokens`, as Python's `fnmatch` does.
pub(super) fn matches(name: &[char], tokens: &[Token]) -> bool {
    // Classic wildcard matching with one backtrack point per `*`.
    let (mut n, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(tok) if tok.matches(name[n]) => {
                n += 1;
                t += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    star = Some((st, sn + 1));
                    t = st + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|tok| matches!(tok, Token::Star))
}

#[derive(Debug, Clone)]
pub(super) enum Token {
    Star,
    Any,
    Char(char),
    /// Negated, and the ranges (a single character is a range of one).
    Class(bool, Vec<(char, char)>),
}

impl Token {
    pub(super) fn matches(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Char(x) => *x == c,
            Token::Class(negated, ranges) => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// The pattern as fnmatch.translate reads it.
pub(super) fn tokens(p: &[char]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        match c {
            '*' => {
                if !matches!(out.last(), Some(Token::Star)) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::Any),
            '[' => {
                let mut j = i;
                if p.get(j) == Some(&'!') {
                    j += 1;
                }
                if p.get(j) == Some(&']') {
                    j += 1;
                }
                while j < p.len() && p[j] != ']' {
                    j += 1;
                }
                if j >= p.len() {
                    out.push(Token::Char('['));
                    continue;
                }
                let stuff = &p[i..j];
                i = j + 1;
                let (negated, body) = match stuff.split_first() {
                    Some(('!', rest)) => (true, rest),
                    _ => (false, stuff),
                };
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        // An empty range (z-a) matches nothing, as in Python.
                        if body[k] <= body[k + 2] {
                            ranges.push((body[k], body[k + 2]));
                        }
                        k += 3;
                    } else {
                        ranges.push((body[k], body[k]));
                        k += 1;
                    }
                }
                out.push(Token::Class(negated, ranges));
            }
            c => out.push(Token::Char(c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, pattern: &str) -> bool {
        let n: Vec<char> = name.chars().collect();
        let p: Vec<char> = pattern.chars().collect();
        matches(&n, &tokens(&p))
    }

    #[test]
    fn fnmatch_is_pythons() {
        assert!(m("static/src/js/a.js", "static/*"));
        assert!(m("a/b/c.pyc", "*.pyc"));
        assert!(!m("a/static/x", "static/*"));
        assert!(m("i18n/x.pot", "i18n/*.pot"));
        assert!(!m("i18n_extra/x.pot", "i18n/*.pot"));
        assert!(m("tests/a", "tests/*"));
        assert!(!m("tests", "tests/*"));
        assert!(m("a", "?"));
        assert!(!m("ab", "?"));
        assert!(m("b", "[abc]"));
        assert!(!m("d", "[abc]"));
        assert!(m("d", "[!abc]"));
        assert!(m("q", "[a-z]"));
        assert!(m("]", "[]]"));
        assert!(m("x", "[!]]"));
        assert!(m("[", "["));
        assert!(m("-", "[a-]"));
        assert!(!m("b", "[z-a]"));
        assert!(m("", "*"));
        assert!(m("abcabd", "*ab?"));
        assert!(m("é.po", "?.po"));
    }
}
