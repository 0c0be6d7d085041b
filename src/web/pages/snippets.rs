//! Ready-to-copy ways to ping a check: curl, a crontab line, Zapier and
//! Make. Built from `--web.external-url` (or the address the page was
//! reached at), and never holding the token: where a token is needed the
//! snippet shows where it goes.

use crate::config::Check;
use crate::model::schedule::Schedule;

/// One snippet: what it is for, and the text to copy.
pub struct Snippet {
    pub id: &'static str,
    pub title: &'static str,
    pub text: String,
}

/// Every snippet for `check`, reached at `url` (no trailing slash).
pub fn all(check: &Check, url: &str) -> Vec<Snippet> {
    let ping = format!("{url}/ping/{}", check.name);
    let token = check.token.is_some();
    let method = if check.methods.post { "POST" } else { "GET" };
    let header = if token {
        " -H \"Authorization: Bearer $DEADMAN_TOKEN\""
    } else {
        ""
    };
    let curl = format!("curl -fsS -m 10 --retry 3 -X {method}{header}");
    let mut shell = String::new();
    if token {
        shell.push_str(
            "# DEADMAN_TOKEN holds this check's token (from its owner; never commit it)\n",
        );
    }
    shell.push_str(&format!(
        "{curl} \"{ping}?records=200&rid=run-$(date +%s)\""
    ));
    let schedule = cron_expression(&check.schedule);
    let mut timezone_note = String::new();
    if let Schedule::Cron(cron) = &check.schedule {
        timezone_note = format!(
            "# The check expects these times in {0}: CRON_TZ={0} where your cron supports it.\n",
            cron.timezone
        );
    }
    let mut wrapped = String::from("# crontab -e; deadman on cron's PATH (e.g. /usr/local/bin)\n");
    wrapped.push_str(&timezone_note);
    wrapped.push_str(&format!("DEADMAN_URL={url}\n"));
    if token {
        wrapped.push_str("DEADMAN_TOKEN_FILE=/etc/deadman/<check>.token\n");
    }
    wrapped.push_str(&format!(
        "{schedule} deadman run --check {} -- /path/to/job",
        check.name
    ));
    let mut cron = String::from("# crontab -e. `%` must be written `\\%` in a crontab.\n");
    cron.push_str(&timezone_note);
    if token {
        cron.push_str("DEADMAN_TOKEN=<the check's token>\n");
    }
    cron.push_str(&format!(
        "{schedule} RID=run-$(date +\\%s)-$$; {curl} \"{ping}/start?rid=$RID\"; /path/to/job; {curl} \"{ping}/$??rid=$RID\""
    ));
    let auth_line = if token {
        "\nHeaders: Authorization = Bearer <the check's token>"
    } else {
        ""
    };
    let zapier = format!(
        "Action: Webhooks by Zapier → {method}\nURL: {ping}\nPayload Type: json\n\
         Data: records = <the number of records the Zap moved>\n      rid = <the Zap's run id>{auth_line}"
    );
    let make = format!(
        "Module: HTTP → Make a request\nURL: {ping}\nMethod: {method}{auth_line}\n\
         Body type: Raw, Content type: JSON (application/json)\n\
         Request content: {{\"records\": <records moved>, \"rid\": \"{{{{var.scenario.executionId}}}}\"}}"
    );
    vec![
        Snippet {
            id: "snippet-curl",
            title: "curl",
            text: shell,
        },
        Snippet {
            id: "snippet-run",
            title: "cron with deadman run",
            text: wrapped,
        },
        Snippet {
            id: "snippet-cron",
            title: "cron with curl only",
            text: cron,
        },
        Snippet {
            id: "snippet-zapier",
            title: "Zapier",
            text: zapier,
        },
        Snippet {
            id: "snippet-make",
            title: "Make",
            text: make,
        },
    ]
}

/// The check's own cron expression, or one that runs once per period
/// when the period divides an hour or a day; otherwise a placeholder.
fn cron_expression(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Cron(cron) => cron.expression.clone(),
        Schedule::Every(period) => {
            let minutes = period.as_secs() / 60;
            match minutes {
                m if m > 0 && m < 60 && 60 % m == 0 => format!("*/{m} * * * *"),
                60 => "0 * * * *".into(),
                m if m % 60 == 0 && m < 1440 && 1440 % m == 0 => format!("0 */{} * * *", m / 60),
                1440 => "0 0 * * *".into(),
                _ => "<minute hour day month weekday>".into(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn check(extra: &str) -> std::sync::Arc<Check> {
        let text = format!("[[check]]\nname = \"orders\"\nowner = \"ops\"\n{extra}");
        let config = Config::parse(&text, std::path::Path::new(".")).expect("valid");
        std::sync::Arc::clone(&config.checks[0])
    }

    #[test]
    fn snippets_name_the_url_and_never_the_token() {
        let check = check("every = \"15m\"\ntoken = \"very-secret-token-123456\"\n");
        let snippets = all(&check, "https://deadman.example");
        for snippet in &snippets {
            assert!(!snippet.text.contains("very-secret"), "{}", snippet.text);
            // deadman run builds the ping URL from DEADMAN_URL and --check.
            let url = match snippet.id {
                "snippet-run" => "DEADMAN_URL=https://deadman.example",
                _ => "https://deadman.example/ping/orders",
            };
            assert!(snippet.text.contains(url), "{}", snippet.text);
        }
        assert!(snippets[0]
            .text
            .contains("Authorization: Bearer $DEADMAN_TOKEN"));
        let run = &snippets[1].text;
        assert!(
            run.ends_with("*/15 * * * * deadman run --check orders -- /path/to/job"),
            "{run}"
        );
        assert!(run.contains("DEADMAN_TOKEN_FILE="), "{run}");
        let curl = &snippets[2].text;
        assert!(
            curl.contains("*/15 * * * * RID=run-$(date +\\%s)-$$;"),
            "{curl}"
        );
        assert!(
            curl.ends_with("\"https://deadman.example/ping/orders/$??rid=$RID\""),
            "{curl}"
        );
    }

    #[test]
    fn cron_lines_follow_the_schedule() {
        let daily = check("every = \"1d\"\n");
        assert!(all(&daily, "u")[2].text.contains("\n0 0 * * * RID="));
        let cron = check("cron = \"30 6 * * 1-5\"\ntimezone = \"Europe/London\"\n");
        assert!(all(&cron, "u")[1]
            .text
            .contains("\n30 6 * * 1-5 deadman run --check orders"));
        assert!(all(&cron, "u")[2].text.contains("\n30 6 * * 1-5 RID="));
        assert!(all(&cron, "u")[1].text.contains("CRON_TZ=Europe/London"));
        assert!(!all(&cron, "u")[0].text.contains("Authorization"));
    }
}
