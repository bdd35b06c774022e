//! Kafka's `ssl.principal.mapping.rules` (`SslPrincipalMapper`): an ordered list of
//! `RULE:pattern/replacement/[LU]` and `DEFAULT` entries turning a client certificate's subject
//! DN (RFC 2253) into a principal name; the first rule whose pattern matches the whole DN wins,
//! `DEFAULT` keeps the DN as it is, and a DN no rule matches fails the authentication.
//!
//! Why a port of Kafka's parser and not a simpler one: rules are copied from Kafka
//! configurations, with its splitting (commas between rules, whitespace trimmed, empty entries
//! skipped, `\/` inside a pattern), its error for a malformed rule and Java's `replaceAll`
//! (`$n` group references, a reference past the last group kept literally, `\x` a literal x).
//! Patterns are Rust `regex` syntax, which covers what DN rules use (no look-around or
//! back-references inside a pattern).

use regex::Regex;

/// Kafka's rule grammar (`SslPrincipalMapper.RULE_PATTERN`).
const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)";

/// One parsed rule.
#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        pattern: Regex,
        /// The pattern anchored at both ends: Java's `matches()`.
        whole: Regex,
        replacement: String,
        lower: bool,
        upper: bool,
    },
}

/// The parsed rules of one listener (see the module doc).
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl PrincipalMapper {
    /// Parses `ssl.principal.mapping.rules`; the error is Kafka's message.
    pub fn parse(rules: &str) -> Result<PrincipalMapper, String> {
        let splitter =
            Regex::new(&format!(r"\s*({RULE_PATTERN})\s*(,\s*|$)")).map_err(|e| e.to_string())?;
        let parser = Regex::new(&format!("^(?:{RULE_PATTERN})")).map_err(|e| e.to_string())?;
        let mut parsed = Vec::new();
        for caps in splitter.captures_iter(rules.trim()) {
            let rule = caps.get(1).map_or("", |m| m.as_str());
            let Some(c) = parser.captures(rule) else {
                return Err(format!("Invalid rule: {rule}"));
            };
            let end = c.get(0).map_or(0, |m| m.end());
            if end != rule.len() {
                return Err(format!(
                    "Invalid rule: `{rule}`, unmatched substring: `{}`",
                    &rule[end..]
                ));
            }
            if c.get(1).is_some() {
                parsed.push(Rule::Default);
            } else if let (Some(p), Some(r)) = (c.get(2), c.get(4)) {
                let pattern = Regex::new(p.as_str())
                    .map_err(|e| format!("Invalid rule: {rule}: bad pattern: {e}"))?;
                let whole = Regex::new(&format!("^(?:{})$", p.as_str()))
                    .map_err(|e| format!("Invalid rule: {rule}: bad pattern: {e}"))?;
                let case = c.get(6).map_or("", |m| m.as_str());
                parsed.push(Rule::Replace {
                    pattern,
                    whole,
                    replacement: r.as_str().to_string(),
                    lower: case == "L",
                    upper: case == "U",
                });
            }
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The principal name for a DN: the first rule that applies, or Kafka's `NoMatchingRule`.
    pub fn name(&self, dn: &str) -> Result<String, String> {
        for rule in &self.rules {
            if let Some(name) = rule.apply(dn) {
                return Ok(name);
            }
        }
        Err(format!("No rules apply to {dn}"))
    }
}

impl Rule {
    fn apply(&self, dn: &str) -> Option<String> {
        let Rule::Replace {
            pattern,
            whole,
            replacement,
            lower,
            upper,
        } = self
        else {
            return Some(dn.to_string());
        };
        if !whole.is_match(dn) {
            return None;
        }
        let out = replace_all(pattern, dn, replacement);
        Some(if *lower {
            out.to_lowercase()
        } else if *upper {
            out.to_uppercase()
        } else {
            out
        })
    }
}

/// Java's `String.replaceAll`: every match from left to right (an empty match right after a
/// match included, as Java finds it), replaced by the expanded replacement.
fn replace_all(pattern: &Regex, text: &str, replacement: &str) -> String {
    let mut out = String::new();
    let (mut pos, mut last) = (0, 0);
    while pos <= text.len() {
        let Some(caps) = pattern.captures_at(text, pos) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        out.push_str(&text[last..m.start()]);
        expand(&caps, replacement, &mut out);
        last = m.end();
        pos = if m.is_empty() {
            match text[m.end()..].chars().next() {
                Some(c) => m.end() + c.len_utf8(),
                None => break,
            }
        } else {
            m.end()
        };
    }
    out.push_str(&text[last.min(text.len())..]);
    out
}

/// Java's `appendReplacement` after Kafka's `escapeLiteralBackReferences`: `\x` is x, `$n`
/// takes as many digits as still name a group, a `$n` naming no group stays literal.
fn expand(caps: &regex::Captures<'_>, replacement: &str, out: &mut String) {
    let groups = caps.len() - 1;
    let chars: Vec<char> = replacement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c == '\\' {
            if let Some(n) = chars.get(i) {
                out.push(*n);
                i += 1;
            }
            continue;
        }
        let first = chars
            .get(i)
            .and_then(|d| d.to_digit(10))
            .map(|d| d as usize);
        match first {
            Some(mut group) if c == '$' && group <= groups && (groups > 0 || group == 0) => {
                i += 1;
                while let Some(d) = chars.get(i).and_then(|d| d.to_digit(10)) {
                    let next = group * 10 + d as usize;
                    if next > groups {
                        break;
                    }
                    group = next;
                    i += 1;
                }
                out.push_str(caps.get(group).map_or("", |m| m.as_str()));
            }
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_rules_as_kafka() {
        for ok in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            ",   , , ,      , , ,   ",
        ] {
            assert!(PrincipalMapper::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_names_as_kafka() {
        let rules = [
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
            "DEFAULT",
        ]
        .join(", ");
        let m = PrincipalMapper::parse(&rules).expect("rules");
        let name = |dn: &str| m.name(dn).expect("a rule applies");
        assert_eq!(name("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke");
        assert_eq!(
            name("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"),
            "duke@sme"
        );
        assert_eq!(name("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME");
        assert_eq!(name("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE");
        assert_eq!(
            name("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    #[test]
    fn escaped_commas_and_no_matching_rule() {
        let m =
            PrincipalMapper::parse(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT").expect("rules");
        assert_eq!(
            m.name(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz")
                .expect("name"),
            r"Tkac\, Adam"
        );
        let only = PrincipalMapper::parse("RULE:^CN=(.*),O=Acme$/$1/").expect("rules");
        assert_eq!(only.name("CN=a,O=Acme").expect("name"), "a");
        assert!(only.name("CN=a,O=Other").is_err());
        // `$2` with one group stays literal, as Kafka's escapeLiteralBackReferences makes it.
        let lit = PrincipalMapper::parse("RULE:^CN=(.*)$/$1-$2/").expect("rules");
        assert_eq!(lit.name("CN=x").expect("name"), "x-$2");
    }
}
