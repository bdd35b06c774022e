//! Kafka's JAAS-style configuration values, as `sasl.jaas.config` and
//! `listener.name.<listener>.<mechanism>.sasl.jaas.config` carry them:
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="secret" user_bob="pw";
//! ```
//!
//! Why parse it: gregor reads the users of PLAIN from it exactly as Kafka's
//! `PlainServerCallbackHandler` does (option `user_<name>` = that user's password), so an
//! existing `server.properties` works unchanged. Grammar (Kafka's `JaasConfig`): one or more
//! `<LoginModuleClass> <required|requisite|sufficient|optional> [key=value ...];`, a value
//! quoted with `"` (backslash escapes the next character) or a bare token. Values are
//! secrets: errors never quote them.

use std::collections::BTreeMap;

/// One login module entry.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginModule {
    pub class: String,
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

impl std::fmt::Debug for LoginModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&String> = self.options.keys().collect();
        write!(
            f,
            "LoginModule {{ class: {}, flag: {}, options: {keys:?} }}",
            self.class, self.flag
        )
    }
}

/// Kafka's class of the PLAIN login module.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

const FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == ';' || c == '=' {
            out.push(c.to_string());
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(e) => s.push(e),
                        None => return Err("unterminated quoted value".into()),
                    },
                    Some('"') => break,
                    Some(ch) => s.push(ch),
                    None => return Err("unterminated quoted value".into()),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == ';' || ch == '=' || ch == '"' {
                    break;
                }
                s.push(ch);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// Parses a JAAS configuration value (see the module doc).
pub fn parse(text: &str) -> Result<Vec<LoginModule>, String> {
    let toks = tokens(text)?;
    let mut modules = Vec::new();
    let mut i = 0;
    let word = |t: &String| !t.starts_with('"') && t != ";" && t != "=";
    while i < toks.len() {
        let class = toks
            .get(i)
            .filter(|t| word(t))
            .ok_or("expected a login module class")?;
        let flag = toks
            .get(i + 1)
            .filter(|t| FLAGS.contains(&t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| format!("invalid control flag after {class}"))?;
        i += 2;
        let mut options = BTreeMap::new();
        loop {
            match toks.get(i).map(String::as_str) {
                Some(";") => {
                    i += 1;
                    break;
                }
                None => return Err("login module entry does not end with ';'".into()),
                Some(_) => {
                    let key = &toks[i];
                    if !word(key) || toks.get(i + 1).map(String::as_str) != Some("=") {
                        return Err(format!("invalid option in the entry of {class}"));
                    }
                    let value = toks
                        .get(i + 2)
                        .filter(|t| *t != ";" && *t != "=")
                        .ok_or_else(|| format!("option {key} of {class} has no value"))?;
                    let value = value.strip_prefix('"').unwrap_or(value);
                    options.insert(key.clone(), value.to_string());
                    i += 3;
                }
            }
        }
        modules.push(LoginModule {
            class: class.clone(),
            flag: flag.to_ascii_lowercase(),
            options,
        });
    }
    if modules.is_empty() {
        return Err("no login module".into());
    }
    Ok(modules)
}

/// The PLAIN users (`user_<name>="<password>"`) of a JAAS value's PlainLoginModule entries.
pub fn plain_users(modules: &[LoginModule]) -> BTreeMap<String, String> {
    modules
        .iter()
        .filter(|m| m.class == PLAIN_LOGIN_MODULE)
        .flat_map(|m| m.options.iter())
        .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_examples() {
        let m = parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="al\"ice";"#,
        )
        .expect("parse");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].flag, "required");
        let users = plain_users(&m);
        assert_eq!(users.get("admin").map(String::as_str), Some("admin-secret"));
        assert_eq!(users.get("alice").map(String::as_str), Some("al\"ice"));
        assert_eq!(users.len(), 2);
        let two = parse("a.B required x=1; c.D optional;").expect("two");
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].options.get("x").map(String::as_str), Some("1"));
    }

    #[test]
    fn refuses_bad_values_without_quoting_them() {
        for bad in [
            "",
            "a.B",
            "a.B maybe;",
            "a.B required user_x=\"secret",
            "a.B required user_x=\"secret\"",
            "a.B required user_x=;",
            "a.B required =\"x\";",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
