//! Kafka's `ssl.principal.mapping.rules`: how a client certificate's distinguished name
//! becomes the principal's name. A comma-separated list of `DEFAULT` (the name as it is) and
//! `RULE:pattern/replacement/` with an optional `L` or `U` (lower or upper case the result),
//! tried in order; a rule applies when its pattern matches the whole name, and the name is
//! then rewritten by the replacement (`$1` for a group). No rule applying refuses the client.

use regex::Regex;

/// One parsed rule.
#[derive(Debug)]
enum Rule {
    Default,
    Rewrite {
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// The rules of one TLS listener.
#[derive(Debug)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

/// Kafka's grammar for one rule; the last alternative catches text that is no rule.
const RULE: &str = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)";

impl PrincipalMapper {
    /// Parses `rules` as Kafka does; the error names the rule that is not one.
    pub fn parse(rules: &str) -> Result<PrincipalMapper, String> {
        let splitter = Regex::new(&format!(r"\s*({RULE})\s*(?:,\s*|$)")).expect("a valid regex");
        let parser = Regex::new(&format!("^(?:{RULE})")).expect("a valid regex");
        let mut parsed = Vec::new();
        for split in splitter.captures_iter(rules.trim()) {
            let text = &split[1];
            let rule = parser.captures(text).expect("the last alternative matches anything");
            let end = rule.get(0).map_or(0, |m| m.end());
            if end != text.len() {
                return Err(format!("invalid rule `{text}`: unmatched `{}`", &text[end..]));
            }
            if rule.get(1).is_some() {
                parsed.push(Rule::Default);
            } else if let (Some(pattern), Some(replacement)) = (rule.get(2), rule.get(3)) {
                // `\/` is how a rule writes a slash; the regex needs none of the escape.
                let pattern = pattern.as_str().replace(r"\/", "/");
                let pattern =
                    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid rule `{text}`: {e}"))?;
                let case = match rule.get(4).map(|m| m.as_str()) {
                    Some("L") => Case::Lower,
                    Some("U") => Case::Upper,
                    _ => Case::Keep,
                };
                let replacement = replacement_template(replacement.as_str(), pattern.captures_len() - 1);
                parsed.push(Rule::Rewrite {
                    pattern,
                    replacement,
                    case,
                });
            }
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The principal's name for the certificate named `distinguished_name`; `None` when no
    /// rule applies.
    pub fn name(&self, distinguished_name: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(distinguished_name.to_string()),
            Rule::Rewrite {
                pattern,
                replacement,
                case,
            } => {
                let name = pattern
                    .is_match(distinguished_name)
                    .then(|| pattern.replace(distinguished_name, replacement.as_str()).into_owned())?;
                Some(match case {
                    Case::Keep => name,
                    Case::Lower => name.to_lowercase(),
                    Case::Upper => name.to_uppercase(),
                })
            }
        })
    }
}

/// A Java replacement (`$n` a group, a backslash taking the next character literally) as
/// the regex crate's template (`${n}`, `$$`). A `$n` past the groups keeps its longest
/// prefix that names one, and one naming none stays literal text, as in Kafka.
fn replacement_template(java: &str, groups: usize) -> String {
    let mut template = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => template.push_str("$$"),
                Some(next) => template.push(next),
                None => {}
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let mut group = digits.clone();
                while group.len() > 1 && group.parse::<usize>().is_ok_and(|g| g > groups) {
                    group.pop();
                }
                match group.parse::<usize>() {
                    Ok(g) if g <= groups && !digits.is_empty() => {
                        template.push_str(&format!("${{{g}}}"));
                        template.push_str(&digits[group.len()..]);
                    }
                    _ => {
                        template.push_str("$$");
                        template.push_str(&digits);
                    }
                }
            }
            c => template.push(c),
        }
    }
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &str, name: &str) -> Option<String> {
        PrincipalMapper::parse(rules).expect("valid rules").name(name)
    }

    const DN: &str = "CN=alice,OU=eng,O=Tidelog,C=NO";

    #[test]
    fn default_keeps_the_distinguished_name() {
        assert_eq!(map("DEFAULT", DN).as_deref(), Some(DN));
    }

    #[test]
    fn rules_apply_in_order_to_whole_names_with_groups_and_case() {
        let rules = "RULE:^CN=(.*?),OU=ops,.*$/$1-ops/, RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/U,DEFAULT";
        assert_eq!(map(rules, DN).as_deref(), Some("ALICE@ENG"));
        assert_eq!(map(rules, "CN=bob,OU=ops,O=x").as_deref(), Some("bob-ops"));
        assert_eq!(map(rules, "O=Tidelog").as_deref(), Some("O=Tidelog"));
        assert_eq!(map("RULE:^CN=([^,]*).*$/$1/L", "CN=Bob,O=x").as_deref(), Some("bob"));
        // Only whole names: `CN=alice` alone matches nothing here, and no DEFAULT follows.
        assert_eq!(map("RULE:CN=alice/x/", DN), None);
        // Several lines, as a properties file continues them.
        assert_eq!(
            map("RULE:^CN=([^,]*),.*$/$1/,\n  DEFAULT", DN).as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn escaped_slashes_and_literal_dollars() {
        assert_eq!(map(r"RULE:^CN=(.*?)\/x,.*$/$1\$/", "CN=a/x,O=y").as_deref(), Some("a$"));
        // $2 with one group is `$1` then a literal 2... as Kafka reads `$12`-style references.
        assert_eq!(map("RULE:^CN=([^,]*),.*$/$12/", DN).as_deref(), Some("alice2"));
        assert_eq!(map("RULE:^CN=[^,]*,.*$/$1/", DN).as_deref(), Some("$1"));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in ["RULE:^CN=(.*)$/$1/X", "nonsense", "RULE:^CN=(.*$/$1/"] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad}");
        }
    }
}
