//! Where a family's samples are written, and how their values are.

use std::io::Write as _;

/// Where one family's samples are written: its `# HELP` and `# TYPE`
/// lines come before its first sample, so a family without samples is not
/// written at all.
pub(super) struct Sink<'a> {
    out: &'a mut Vec<u8>,
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    started: bool,
    /// "Now", for deadlines, windows and pauses.
    pub now: f64,
    /// `--web.exposition.all-series`: every counter and run series of
    /// every check, zeros included.
    pub all_series: bool,
}

impl<'a> Sink<'a> {
    /// A sink for the family of this name, help and type.
    pub(super) fn new(
        out: &'a mut Vec<u8>,
        (name, help, kind): (&'static str, &'static str, &'static str),
        now: f64,
        all_series: bool,
    ) -> Self {
        Sink {
            out,
            name,
            help,
            kind,
            started: false,
            now,
            all_series,
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            for part in [
                "# HELP ",
                self.name,
                " ",
                self.help,
                "\n# TYPE ",
                self.name,
                " ",
                self.kind,
                "\n",
            ] {
                self.out.extend_from_slice(part.as_bytes());
            }
        }
        self.out.extend_from_slice(self.name.as_bytes());
    }

    fn end(&mut self, value: f64) {
        self.out.push(b' ');
        push_value(self.out, value);
        self.out.push(b'\n');
    }

    /// `name{labels} value`; `labels` is a rendered set, braces included
    /// (or "").
    pub(super) fn sample(&mut self, labels: &str, value: f64) {
        self.start();
        self.out.extend_from_slice(labels.as_bytes());
        self.end(value);
    }

    /// `name{labels,key="text"} value`: a rendered set and one more label
    /// whose value needs no escaping (a kind or a reason).
    pub(super) fn sample_with(&mut self, labels: &str, key: &str, text: &str, value: f64) {
        self.start();
        let open = labels.strip_suffix('}').unwrap_or(labels);
        for part in [open, ",", key, "=\"", text, "\"}"] {
            self.out.extend_from_slice(part.as_bytes());
        }
        self.end(value);
    }
}

/// A sample value as the text format wants it, and as `{value}` (f64's
/// Display, which the prometheus crate's encoder uses for the exporter's
/// own metrics) writes it, but without going through `fmt`: whole numbers
/// (counters, most gauges) by integer formatting, fractions (timestamps)
/// by shortest round-trip formatting, plain decimals both. Display is
/// shortest round-trip too, so the digits are the same, except that when
/// two shortest forms are equally near (a value exactly halfway) the last
/// digit may differ: it reads back as the same float either way.
/// Non-finite values get the text format's spelling.
pub(super) fn push_value(out: &mut Vec<u8>, value: f64) {
    // Beyond 2^53 not every integer is a float; Display prints those.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0
        && value.abs() < EXACT
        && !(value == 0.0 && value.is_sign_negative())
    {
        out.extend_from_slice(itoa::Buffer::new().format(value as i64).as_bytes());
    } else if (1e-5..1e15).contains(&value.abs()) {
        // zmij writes plain decimals in this range, exponents outside it.
        out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINGS: (&str, &str, &str) = (
        "deadman_check_pings_total",
        "Accepted pings by kind (success, fail, start, log); success always, the others once they occurred.",
        "counter",
    );

    #[test]
    fn values_are_written_as_display_writes_them_and_read_back_exactly() {
        let mut values = vec![
            0.0,
            1.0,
            -1.0,
            5.0,
            12.25,
            0.5,
            0.1,
            0.3,
            1e-5,
            1.5e-5,
            9.99e-6,
            1e-7,
            123456.789,
            1e14,
            1e15,
            1e16,
            1.5e15,
            1e21,
            -0.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            2f64.powi(53),
            2f64.powi(53) + 2.0,
            -2f64.powi(53),
            1772442013.25,
            1796195185.0863864,
        ];
        // Timestamps, durations and ratios of every shape, deterministic.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            values.push(1.7e9 + unit * 1e8);
            values.push(unit * 86_400.0);
            values.push(unit);
            values.push(-unit * 1e6);
            values.push(f64::from_bits(x));
        }
        for value in values {
            let mut out = Vec::new();
            push_value(&mut out, value);
            let out = String::from_utf8(out).expect("ascii");
            if value.is_finite() {
                let display = format!("{value}");
                assert_eq!(out.parse::<f64>(), Ok(value), "{out} for {display}");
                assert_eq!(out.len(), display.len(), "{out} for {display}");
                assert!(!out.contains(['e', 'E']), "{out} for {display}");
                if value.fract() == 0.0 {
                    assert_eq!(out, display);
                }
            } else {
                assert!(["NaN", "+Inf", "-Inf"].contains(&out.as_str()), "{out}");
            }
        }
    }

    #[test]
    fn headers_come_before_the_first_sample_only() {
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, PINGS, 0.0, false);
        sink.sample_with("{check=\"a\"}", "kind", "success", 3.0);
        sink.sample_with("{check=\"b\"}", "kind", "fail", 0.5);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP deadman_check_pings_total Accepted pings by kind (success, fail, start, log); \
             success always, the others once they occurred.\n\
             # TYPE deadman_check_pings_total counter\n\
             deadman_check_pings_total{check=\"a\",kind=\"success\"} 3\n\
             deadman_check_pings_total{check=\"b\",kind=\"fail\"} 0.5\n"
        );
        let mut out = Vec::new();
        let _unused = Sink::new(&mut out, PINGS, 0.0, false);
        assert!(out.is_empty());
    }
}
