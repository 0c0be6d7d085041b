//! Every check's label sets, rendered and escaped once per config: the
//! `{check="…"}` most samples carry, the whole label set of
//! `deadman_check_info`, and those of its expiries and declared values. A
//! scrape only copies them; [`LabelCache`] rebuilds them when a reload
//! brings a new config (or the external URL differs).

use std::sync::{Arc, Mutex, Weak};

use crate::config::{Check, Config};

/// The label sets of one config's checks, in name order (the order of
/// [`Config::checks_by_name`]), in one buffer.
pub struct Labels {
    /// The config they were built from.
    config: Weak<Config>,
    /// `--web.external-url` without its trailing slash, or "".
    base: String,
    text: String,
    /// Where each set ends in `text`, after a leading 0: set k is
    /// `text[ends[k]..ends[k + 1]]`.
    ends: Vec<u32>,
    /// Per check, the index in `ends` of its first set.
    first: Vec<u32>,
}

/// One check's label sets: its id, its info, one per expiry, then a pair
/// per declared value (the value's, its info's).
#[derive(Clone, Copy)]
pub(super) struct CheckLabels<'a> {
    text: &'a str,
    ends: &'a [u32],
    expiries: usize,
}

impl<'a> CheckLabels<'a> {
    fn get(&self, k: usize) -> &'a str {
        &self.text[self.ends[k] as usize..self.ends[k + 1] as usize]
    }

    /// `{check="name"}`
    pub(super) fn id(&self) -> &'a str {
        self.get(0)
    }

    /// `deadman_check_info`'s labels; empty values are left out, as
    /// Prometheus drops them anyway.
    pub(super) fn info(&self) -> &'a str {
        self.get(1)
    }

    /// `{check,name,kind}` of the check's `i`th expiry.
    pub(super) fn expiry(&self, i: usize) -> &'a str {
        self.get(2 + i)
    }

    /// `{check,name}` of the `i`th declared value.
    pub(super) fn value(&self, i: usize) -> &'a str {
        self.get(2 + self.expiries + 2 * i)
    }

    /// `{check,name,description}` of the `i`th declared value's info.
    pub(super) fn value_info(&self, i: usize) -> &'a str {
        self.get(3 + self.expiries + 2 * i)
    }
}

impl Labels {
    /// Renders the label sets of every check of `config`; `base` is
    /// `--web.external-url` without its trailing slash, or "".
    pub fn build(config: &Arc<Config>, base: &str) -> Labels {
        let mut labels = Labels {
            config: Arc::downgrade(config),
            base: base.to_string(),
            text: String::with_capacity(config.checks.len() * 160),
            ends: Vec::with_capacity(config.checks.len() * 2 + 1),
            first: Vec::with_capacity(config.checks.len()),
        };
        labels.ends.push(0);
        for check in config.checks_by_name() {
            labels.first.push((labels.ends.len() - 1) as u32);
            labels.add(check, base);
        }
        labels.text.shrink_to_fit();
        labels
    }

    /// Whether these are the label sets of `config` under `base`.
    fn are_for(&self, config: &Arc<Config>, base: &str) -> bool {
        std::ptr::eq(self.config.as_ptr(), Arc::as_ptr(config)) && self.base == base
    }

    /// The label sets of the `i`th check in name order.
    pub(super) fn check(&self, i: usize, check: &Check) -> CheckLabels<'_> {
        let first = self.first[i] as usize;
        let sets = 2 + check.expiries.len() + 2 * check.values.len();
        CheckLabels {
            text: &self.text,
            ends: &self.ends[first..=first + sets],
            expiries: check.expiries.len(),
        }
    }

    fn end_set(&mut self) {
        self.text.push('}');
        let end = u32::try_from(self.text.len()).expect("label sets stay under 4 GiB");
        self.ends.push(end);
    }

    fn add(&mut self, check: &Check, base: &str) {
        let t = &mut self.text;
        let id_start = t.len();
        t.push_str("{check=\"");
        escape_label_value(t, &check.name);
        t.push('"');
        let id_end = t.len();
        self.end_set();

        // The id's labels, then the info's own.
        let t = &mut self.text;
        t.push_str("{check=\"");
        escape_label_value(t, &check.name);
        t.push('"');
        let schedule = check.schedule.to_string();
        let url = (!base.is_empty()).then(|| format!("{base}/checks/{}", check.name));
        let fixed = [
            ("owner", check.owner.as_str()),
            ("team", check.team.as_str()),
            ("severity", check.severity.as_str()),
            ("runbook_url", check.runbook.as_str()),
            ("schedule", schedule.as_str()),
            ("description", check.description.as_str()),
            ("url", url.as_deref().unwrap_or_default()),
        ];
        let custom = check.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (name, value) in fixed.into_iter().chain(custom) {
            push_label(t, name, value);
        }
        self.end_set();

        // `{check="name"` without its brace, to add labels to.
        let id = self.text[id_start..id_end].to_string();
        for expiry in &check.expiries {
            let t = &mut self.text;
            t.push_str(&id);
            push_label(t, "name", &expiry.name);
            push_label(t, "kind", expiry.kind.as_str());
            self.end_set();
        }
        for declared in &check.values {
            let t = &mut self.text;
            t.push_str(&id);
            push_label(t, "name", &declared.name);
            self.end_set();
            let t = &mut self.text;
            t.push_str(&id);
            push_label(t, "name", &declared.name);
            // Empty too: a value's info always has its description label.
            t.push_str(",description=\"");
            escape_label_value(t, &declared.description);
            t.push('"');
            self.end_set();
        }
    }
}

/// `,name="value"`, or nothing for an empty value.
fn push_label(out: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(',');
    out.push_str(name);
    out.push_str("=\"");
    escape_label_value(out, value);
    out.push('"');
}

/// Label values escape backslash, double quote and newline.
pub(super) fn escape_label_value(out: &mut String, value: &str) {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// The label sets of the config in force, kept between scrapes.
#[derive(Default)]
pub struct LabelCache {
    current: Mutex<Option<Arc<Labels>>>,
}

impl LabelCache {
    /// The label sets of `config` under `base`: the kept ones if they are
    /// for it, else new ones (after a reload), which are then kept.
    pub fn get(&self, config: &Arc<Config>, base: &str) -> Arc<Labels> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(labels) = current.as_ref().filter(|l| l.are_for(config, base)) {
            return Arc::clone(labels);
        }
        // The old sets go first: two configs' worth never coexist here.
        *current = None;
        let labels = Arc::new(Labels::build(config, base));
        *current = Some(Arc::clone(&labels));
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, "a\\\\b\\\"c\\nd");
        let mut out = String::new();
        escape_label_value(&mut out, "plain");
        assert_eq!(out, "plain");
    }

    #[test]
    fn sets_per_check_and_a_new_config_rebuilds_them() {
        let text = r#"
[[check]]
name = "b"
owner = "ops"
every = "1h"
labels = { system = "xero" }
[[check.expiry]]
name = "token"
kind = "credential"
[[check.value]]
name = "lag"
[[check]]
name = "a"
owner = "ops"
team = "finance"
description = "say \"hi\""
every = "15m"
"#;
        let config = Arc::new(Config::parse(text, Path::new(".")).expect("valid"));
        let cache = LabelCache::default();
        let labels = cache.get(&config, "https://d.example");
        let by_name: Vec<_> = config.checks_by_name().collect();
        let a = labels.check(0, by_name[0]);
        assert_eq!(a.id(), "{check=\"a\"}");
        assert_eq!(
            a.info(),
            "{check=\"a\",owner=\"ops\",team=\"finance\",severity=\"warning\",schedule=\"every 15m\",\
             description=\"say \\\"hi\\\"\",url=\"https://d.example/checks/a\"}"
        );
        let b = labels.check(1, by_name[1]);
        assert_eq!(b.id(), "{check=\"b\"}");
        assert!(b.info().ends_with(",system=\"xero\"}"), "{}", b.info());
        assert_eq!(
            b.expiry(0),
            "{check=\"b\",name=\"token\",kind=\"credential\"}"
        );
        assert_eq!(b.value(0), "{check=\"b\",name=\"lag\"}");
        assert_eq!(
            b.value_info(0),
            "{check=\"b\",name=\"lag\",description=\"\"}"
        );

        assert!(Arc::ptr_eq(
            &labels,
            &cache.get(&config, "https://d.example")
        ));
        assert!(!Arc::ptr_eq(&labels, &cache.get(&config, "")));
        let reloaded = Arc::new(Config::parse(text, Path::new(".")).expect("valid"));
        let again = cache.get(&reloaded, "");
        assert!(again.are_for(&reloaded, ""));
        assert!(!again.are_for(&config, ""));
    }
}
