//! Values that reach a command we print. Everything from the cluster or a log line is tenant
//! input: it is checked against what AWS or Kubernetes allows for that field, then quoted for a
//! POSIX shell, so a pasted line is exactly the words we meant. Pure leaf.

/// A word for a POSIX shell: bare when it holds only characters no shell treats specially,
/// else in single quotes (an embedded `'` becomes `'\''`).
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// An IAM role name: 1–64 of letters, digits and `+=,.@_-` (IAM's `[\w+=,.@-]+`).
pub fn iam_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// An IAM action written in full, never a wildcard: `service:Action`, the service in lower
/// case letters, digits and `-`, the action in letters and digits.
pub fn iam_action(s: &str) -> bool {
    let Some((service, action)) = s.split_once(':') else { return false };
    !service.is_empty()
        && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !action.is_empty()
        && action.chars().all(|c| c.is_ascii_alphanumeric())
}

/// How a POSIX shell splits `line` into words (quotes and backslashes honoured), or None when
/// the line holds anything that would make the shell do more than run one command: `;`, `|`,
/// `&`, `$`, backquotes, redirections, parentheses, a newline or an unclosed quote. The tests
/// use it to show that tenant text never adds a word or a command to a printed fix.
pub fn split(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => word.push(chars.next()?),
                        '$' | '`' => return None,
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' | '|' | '&' | '$' | '`' | '<' | '>' | '(' | ')' | '\n' | '\r' | '*' | '?' | '[' => return None,
            // A comment, or a home directory, only where a word starts.
            '#' | '~' if !in_word => return None,
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validators_table() {
        for (role, ok) in [
            ("eks-lbc-role", true),
            ("AmazonEKSLoadBalancerControllerRole", true),
            ("a b", false),
            ("", false),
            ("x;rm", false),
            (&"r".repeat(65)[..], false),
        ] {
            assert_eq!(iam_role_name(role), ok, "{role}");
        }
        for (action, ok) in [
            ("elasticloadbalancing:RegisterTargets", true),
            ("ec2:AuthorizeSecurityGroupIngress", true),
            ("*", false),
            ("ec2:*", false),
            ("ec2:Describe*", false),
            ("iam:PassRole\",\"Resource\":\"*", false),
            ("ec2", false),
        ] {
            assert_eq!(iam_action(action), ok, "{action}");
        }
    }

    proptest! {
        /// Any text, quoted, is one word that reads back as itself.
        #[test]
        fn a_quoted_word_is_one_word_and_itself(s in any::<String>().prop_filter("no NUL", |s| !s.contains('\0') && !s.contains('\n') && !s.contains('\r'))) {
            let line = format!("echo {}", quote(&s));
            let words = split(&line).expect("a quoted word never needs the shell to do more");
            prop_assert_eq!(words, vec!["echo".to_string(), s]);
        }
    }
}
