//! JSON ping bodies, as webhook tools (Zapier, Make) send them.
//!
//! Such a body is usually the tool's whole payload, with our keys among
//! the tool's own, so unknown keys cannot all be refused. The rule:
//!
//! * our keys (`records`, `rid`, `reason`, `message`, `token`, `expires`,
//!   `expires.<name>`, `values`, `value.<name>`) must have a usable type;
//!   `null` is refused (a field the tool left empty must not pass as "no
//!   records");
//! * a key that is a near-miss of ours is refused, naming the key and the
//!   accepted ones: the same name in another case or with `-`/`_`
//!   (`Records`, `RID`), singular or plural (`record`, `rids`), or, for
//!   names of five letters or more, one edit away (`recods`, `mesage`);
//!   `value` and its near misses are not refused: "value" is a field name
//!   too common in tools' own payloads;
//! * any other key is the tool's and is ignored;
//! * a key given twice (at the top level, or inside `expires` or `values`)
//!   is refused, as a repeated query parameter is.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ping_error::{bad, PingError};
use super::ping_params::{parse_records, Params, ACCEPTED_PARAMS};
use super::values::parse_value;

/// Our top-level keys the near-miss rule protects (`values` is ours too,
/// but see the module docs).
const KNOWN: [&str; 6] = ["records", "rid", "reason", "message", "token", "expires"];

/// Reads a JSON body into `params`.
pub fn parse_json_body(body: &[u8], params: &mut Params) -> Result<(), PingError> {
    let entries = parse_object(body, "JSON body")?;
    for (key, raw) in entries {
        let value: serde_json::Value = serde_json::from_str(raw.get())
            .map_err(|e| bad(format!("body is not valid JSON: {e}")))?;
        apply(&key, raw.get(), value, params)?;
    }
    Ok(())
}

fn apply(
    key: &str,
    raw: &str,
    value: serde_json::Value,
    params: &mut Params,
) -> Result<(), PingError> {
    use serde_json::Value;
    match (key, value) {
        (_, Value::Null) if is_ours(key) => Err(bad(format!(
            "{key} is null; send a value, or leave the key out"
        ))),
        ("records", Value::Number(n)) => match n.as_u64() {
            Some(n) => params.set_records(n),
            None => Err(bad(format!(
                "records must be a non-negative integer, not {n}"
            ))),
        },
        // Many no-code tools send every field as a string.
        ("records", Value::String(s)) => params.set_records(parse_records(&s)?),
        ("rid" | "reason" | "message" | "token", Value::String(s)) => {
            params.set_text(key, s, false)
        }
        ("rid", Value::Number(n)) => params.set_text("rid", n.to_string(), false),
        // {"expires": {"xero-refresh-token": "2027-01-15T00:00:00Z"}}
        ("expires", Value::Object(_)) => {
            for (name, inner) in parse_object(raw.as_bytes(), "expires")? {
                match serde_json::from_str::<Value>(inner.get()) {
                    Ok(Value::String(text)) => params.add_expiry(&name, &text)?,
                    Ok(other) => {
                        return Err(bad(format!(
                            "expires.{name} has the wrong JSON type ({}); send an RFC 3339 string",
                            json_type(&other)
                        )))
                    }
                    Err(e) => return Err(bad(format!("body is not valid JSON: {e}"))),
                }
            }
            Ok(())
        }
        // {"expires.xero-refresh-token": "2027-01-15T00:00:00Z"}
        (key, Value::String(text)) if key.starts_with("expires.") => {
            params.add_expiry(&key["expires.".len()..], &text)
        }
        // {"values": {"unmatched_invoices": 37}}
        ("values", Value::Object(_)) => {
            for (name, inner) in parse_object(raw.as_bytes(), "values")? {
                match serde_json::from_str::<Value>(inner.get()) {
                    Ok(inner) => add_value(&name, inner, params)?,
                    Err(e) => return Err(bad(format!("body is not valid JSON: {e}"))),
                }
            }
            Ok(())
        }
        // {"value.unmatched_invoices": 37}
        (key, value @ (Value::Number(_) | Value::String(_))) if key.starts_with("value.") => {
            add_value(&key["value.".len()..], value, params)
        }
        (key, other) if is_ours(key) => Err(bad(format!(
            "{key} has the wrong JSON type ({})",
            json_type(&other)
        ))),
        (key, _) if is_near_miss(key) => Err(bad(format!(
            "unknown key {key:?} looks like a misspelt parameter; accepted parameters are \
             {ACCEPTED_PARAMS} (other keys are ignored)"
        ))),
        _ => Ok(()),
    }
}

/// One value: a JSON number, or a string of one (as many no-code tools
/// send every field).
fn add_value(name: &str, value: serde_json::Value, params: &mut Params) -> Result<(), PingError> {
    use serde_json::Value;
    match value {
        Value::Number(n) => params.add_json_value(name, &n),
        Value::String(text) => params.add_value(name, parse_value(&text)),
        other => Err(bad(format!(
            "value.{name} has the wrong JSON type ({}); send a number",
            json_type(&other)
        ))),
    }
}

fn is_ours(key: &str) -> bool {
    KNOWN.contains(&key)
        || key == "values"
        || key.starts_with("expires.")
        || key.starts_with("value.")
}

/// Whether `key` is probably one of ours, mistyped.
fn is_near_miss(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    KNOWN.iter().any(|known| {
        folded == *known
            || folded.strip_suffix('s') == Some(known)
            || known.strip_suffix('s') == Some(folded.as_str())
            || (known.len() >= 5 && within_one_edit(&folded, known))
    }) || folded.starts_with("expire")
        || folded.starts_with("expiry")
}

/// Levenshtein distance ≤ 1 (one insertion, deletion or substitution).
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    if short.len() == long.len() {
        // At most one substitution.
        return short.iter().zip(&long).filter(|(x, y)| x != y).count() <= 1;
    }
    // One insertion: skip it in the longer one after the common prefix.
    let prefix = short.iter().zip(&long).take_while(|(x, y)| x == y).count();
    short[prefix..] == long[prefix + 1..]
}

/// The entries of a JSON object in order, values unparsed, refusing a key
/// given twice (serde_json's own map would keep the last one silently).
fn parse_object<'a>(text: &'a [u8], what: &str) -> Result<Vec<(String, &'a RawValue)>, PingError> {
    let value: &RawValue =
        serde_json::from_slice(text).map_err(|e| bad(format!("body is not valid JSON: {e}")))?;
    if !value.get().trim_start().starts_with('{') {
        return Err(bad(format!("{what} must be an object")));
    }
    let Entries(entries) = serde_json::from_str(value.get())
        .map_err(|e| bad(format!("body is not valid JSON: {e}")))?;
    let mut seen = HashSet::new();
    if let Some((key, _)) = entries.iter().find(|(key, _)| !seen.insert(key.as_str())) {
        let shown = match what {
            "expires" => format!("expires.{key}"),
            "values" => format!("value.{key}"),
            _ => key.clone(),
        };
        return Err(bad(format!(
            "{shown} is given more than once; send it once"
        )));
    }
    Ok(entries)
}

/// A JSON object as a list, duplicates kept.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }
        deserializer
            .deserialize_map(EntriesVisitor)
            .map_err(de::Error::custom)
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Params, PingError> {
        let mut params = Params::default();
        parse_json_body(body.as_bytes(), &mut params).map(|()| params)
    }

    fn error(body: &str) -> String {
        match parse(body) {
            Err(PingError::BadRequest(why)) => why,
            other => panic!("{body}: expected a 400, got {:?}", other.map(|p| p.records)),
        }
    }

    #[test]
    fn near_misses_are_refused_and_the_tools_own_keys_pass() {
        for key in [
            "record",
            "Records",
            "RECORDS",
            "rids",
            "RID",
            "recods",
            "mesage",
            "Reason",
            "tokens",
            "expiry",
            "expires_at",
        ] {
            let message = error(&format!(r#"{{"{key}": 200}}"#));
            assert_eq!(
                message,
                format!(
                    "unknown key {key:?} looks like a misspelt parameter; accepted parameters are \
                     records, rid, reason, message, token, expires.<name>, value.<name> (other keys are ignored)"
                ),
            );
        }
        for key in [
            "id", "order_id", "zap_id", "status", "total", "customer", "uid", "data",
        ] {
            assert!(
                parse(&format!(r#"{{"{key}": 1, "records": 3}}"#)).is_ok(),
                "{key}"
            );
        }
    }

    #[test]
    fn null_and_repeated_keys_are_refused() {
        assert_eq!(
            error(r#"{"records": null}"#),
            "records is null; send a value, or leave the key out"
        );
        assert_eq!(
            error(r#"{"records": 1, "records": 2}"#),
            "records is given more than once; send it once"
        );
        assert_eq!(
            error(r#"{"expires": {"a": "2027-01-15T00:00:00Z", "a": "2028-01-15T00:00:00Z"}}"#),
            "expires.a is given more than once; send it once"
        );
        assert_eq!(
            error(r#"{"expires": 5}"#),
            "expires has the wrong JSON type (number)"
        );
    }

    #[test]
    fn values_as_an_object_or_dotted_keys_numbers_or_strings() {
        let params = parse(
            r#"{"values": {"unmatched": 37, "lag": "-2.5"}, "value.dead_letters": 0, "value": "tool's own"}"#,
        )
        .expect("parses");
        assert_eq!(
            params.values,
            vec![
                ("unmatched".to_string(), 37.0),
                ("lag".to_string(), -2.5),
                ("dead_letters".to_string(), 0.0)
            ]
        );
        assert_eq!(
            error(r#"{"values": {"a": 1, "a": 2}}"#),
            "value.a is given more than once; send it once"
        );
        assert_eq!(
            error(r#"{"values": {"a": 1}, "value.a": 2}"#),
            "value.a is given more than once; send it once"
        );
        assert_eq!(
            error(r#"{"values": {"a": true}}"#),
            "value.a has the wrong JSON type (boolean); send a number"
        );
        assert_eq!(
            error(r#"{"value.a": null}"#),
            "value.a is null; send a value, or leave the key out"
        );
        assert_eq!(
            error(r#"{"values": [1]}"#),
            "values has the wrong JSON type (array)"
        );
        assert_eq!(
            error(r#"{"values": {"a": 1e16}}"#),
            "value.a is 1e+16, out of range; a value may be at most 1e15 (1000000000000000) either side of 0"
        );
        assert_eq!(
            error(r#"{"values": {"a": "NaN"}}"#),
            "value.a must be a number such as 37 or -2.5, not \"NaN\""
        );
        // Near misses of "value" are the tool's own keys.
        for key in ["value", "Value", "vals", "valuee"] {
            assert!(parse(&format!(r#"{{"{key}": 1}}"#)).is_ok(), "{key}");
        }
    }

    #[test]
    fn body_token_is_kept_for_auth() {
        let params = parse(r#"{"token": "s3cret", "records": "4"}"#).expect("parses");
        assert_eq!(params.token.as_deref(), Some("s3cret"));
        assert_eq!(params.records, Some(4));
    }

    #[test]
    fn one_edit() {
        assert!(within_one_edit("recods", "records"));
        assert!(within_one_edit("recxrds", "records"));
        assert!(within_one_edit("records", "records"));
        assert!(!within_one_edit("rcods", "records"));
        assert!(!within_one_edit("season", "records"));
    }
}
