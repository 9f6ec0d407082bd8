//! The glob patterns of `directory-include` / `directory-exclude`, as Argo
//! CD's `spec.source.directory` accepts them: `*` (within one path segment),
//! `**` (any number of segments), `?`, `[abc]`/`[a-z]`, and `{a,b}`
//! alternatives. Patterns match the path relative to the app dir; a pattern
//! without `/` also matches the file name alone.

/// Rejects patterns whose matching cost could blow up (tenant input).
pub fn validate(pattern: &str) -> Result<(), String> {
    let stars = pattern.matches('*').count();
    let braces = pattern.matches('{').count();
    if pattern.len() > 256 || stars > 8 || braces > 4 {
        return Err("is too complex (at most 256 chars, 8 `*`, 4 `{`)".to_owned());
    }
    Ok(())
}

/// True if `path` matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    if glob(&p, &s) {
        return true;
    }
    if !pattern.contains('/')
        && let Some(name) = path.rsplit('/').next()
    {
        let n: Vec<char> = name.chars().collect();
        return glob(&p, &n);
    }
    false
}

fn glob(p: &[char], s: &[char]) -> bool {
    // Expand the first `{…}` group, then match each alternative.
    if let Some(open) = p.iter().position(|&c| c == '{') {
        let mut depth = 0;
        let mut close = None;
        for (i, &c) in p.iter().enumerate().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        if let Some(close) = close {
            let mut alts = Vec::new();
            let mut start = open + 1;
            let mut depth = 0;
            for i in open + 1..close {
                match p[i] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        alts.push(&p[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            alts.push(&p[start..close]);
            return alts.iter().any(|alt| {
                let mut q = p[..open].to_vec();
                q.extend_from_slice(alt);
                q.extend_from_slice(&p[close + 1..]);
                glob(&q, s)
            });
        }
    }
    simple(p, s)
}

/// Matching without braces; bounded backtracking through recursion on `*`.
fn simple(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            let rest = &p[2..];
            // `**/` may also match nothing.
            if rest.first() == Some(&'/') && simple(&rest[1..], s) {
                return true;
            }
            (0..=s.len()).any(|i| simple(rest, &s[i..]))
        }
        Some('*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if simple(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == '/' {
                    break;
                }
            }
            false
        }
        Some('?') => !s.is_empty() && s[0] != '/' && simple(&p[1..], &s[1..]),
        Some('[') => {
            let Some(end) = p.iter().skip(1).position(|&c| c == ']').map(|i| i + 1) else {
                return !s.is_empty() && s[0] == '[' && simple(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else {
                return false;
            };
            let mut class = &p[1..end];
            let negate = matches!(class.first(), Some('!' | '^'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && c != '/' && simple(&p[end + 1..], &s[1..])
        }
        Some(&c) => !s.is_empty() && s[0] == c && simple(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        let yes = [
            ("*.yaml", "a.yaml"),
            ("*.yaml", "sub/a.yaml"), // name-only match
            ("sub/*.yaml", "sub/a.yaml"),
            ("**/*.yaml", "a/b/c.yaml"),
            ("**/*.yaml", "c.yaml"),
            ("{a,b}.yaml", "b.yaml"),
            ("*.{yaml,json}", "x.json"),
            ("secret-?.yaml", "secret-1.yaml"),
            ("[ab]*.yaml", "b1.yaml"),
        ];
        let no = [
            ("sub/*.yaml", "sub/deeper/a.yaml"),
            ("*.yaml", "a.json"),
            ("{a,b}.yaml", "c.yaml"),
            ("[!ab]*.yaml", "a1.yaml"),
            ("a?b", "a/b"),
        ];
        for (p, s) in yes {
            assert!(matches(p, s), "{p} should match {s}");
        }
        for (p, s) in no {
            assert!(!matches(p, s), "{p} should not match {s}");
        }
    }
}
