"""Tests of scripts/lint-dashboards.

    python3 -m unittest discover -s scripts/tests

Standard library only; the tests that parse queries need promtool on PATH
(scripts/test installs it). Every dashboard is written to a temporary
directory; --prometheus-url is tested against a stub HTTP server on
127.0.0.1.
"""

import contextlib
import http.server
import importlib.machinery
import importlib.util
import io
import json
import shutil
import sys
import tempfile
import threading
import unittest
import urllib.parse
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "lint-dashboards"


def load_script():
    # No scripts/__pycache__/lint-dashboards.*.pyc next to the script.
    sys.dont_write_bytecode = True
    loader = importlib.machinery.SourceFileLoader("lint_dashboards", str(SCRIPT))
    spec = importlib.util.spec_from_loader("lint_dashboards", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


lint = load_script()

DS = {"type": "prometheus", "uid": "${datasource}"}
DATASOURCE_VAR = {"name": "datasource", "type": "datasource", "query": "prometheus", "current": {}}
JOB_VAR = {
    "name": "job",
    "type": "query",
    "datasource": DS,
    "query": 'label_values(deadman_build_info{job="deadman"}, job)',
    "current": {"selected": True, "text": ["deadman"], "value": ["deadman"]},
    "multi": True,
    "includeAll": True,
}
CHECK_VAR = {
    "name": "check",
    "type": "query",
    "datasource": DS,
    "query": 'label_values(deadman_check_info{job=~"$job"}, check)',
    "current": {},
}


def panel(title, *exprs, pid=1, **extra):
    return {
        "type": "timeseries",
        "title": title,
        "id": pid,
        "datasource": DS,
        "targets": [{"refId": chr(ord("A") + i), "expr": e, "datasource": DS} for i, e in enumerate(exprs)],
        **extra,
    }


def dashboard(panels=(), variables=(CHECK_VAR,), annotations=()):
    return {
        "uid": "test",
        "title": "test",
        "annotations": {"list": [{"builtIn": 1, "name": "Annotations & Alerts"}, *annotations]},
        "templating": {"list": [DATASOURCE_VAR, JOB_VAR, *variables]},
        "panels": list(panels),
    }


GOOD = 'sum without (instance, pod) (rate(deadman_check_pings_total{job=~"$job", check="$check"}[$__rate_interval]))'


class LintTestCase(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="test-lint-dashboards-")
        self.addCleanup(tmp.cleanup)
        self.dir = Path(tmp.name)

    def run_lint(self, *dashboards, args=()):
        """Runs the linter on the dashboards; returns (exit status, stdout, stderr)."""
        if not shutil.which("promtool"):
            self.fail("promtool is not on PATH (Debian package prometheus)")
        files = []
        for i, d in enumerate(dashboards):
            path = self.dir / f"dashboard-{i}.json"
            path.write_text(json.dumps(d), encoding="utf-8")
            files.append(str(path))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = lint.main([*args, *files])
        return status, out.getvalue(), err.getvalue()


class Promtool(LintTestCase):
    def test_valid_dashboard_passes(self):
        status, out, err = self.run_lint(dashboard([
            panel("Pings", GOOD),
            panel("Late", 'count(max without (instance, pod) (deadman_check_deadline_timestamp_seconds{job=~"$job"}) '
                          '< time()) or vector(0)', pid=2),
        ]))
        self.assertEqual(status, 0, err)
        self.assertEqual(err, "")
        # Two panels' targets and the selectors of the job and check variables.
        self.assertIn("1 files, 4 queries, all OK", out)

    def test_unparsable_query_is_reported_with_its_panel(self):
        status, _, err = self.run_lint(dashboard([
            panel("Fine", GOOD),
            panel("Broken", 'sum(deadman_checks{job=~"$job"}', pid=7),
        ]))
        self.assertEqual(status, 1)
        self.assertIn('panel "Broken" (id 7), target A: promtool:', err)
        self.assertNotIn('"Fine"', err)
        self.assertEqual(err.count("ERROR"), 1, err)

    def test_panels_of_collapsed_rows_are_checked(self):
        row = {"type": "row", "title": "Exporter", "id": 1, "collapsed": True,
               "panels": [panel("Nested", 'rate(process_cpu_seconds_total{job=~"$job"}[$__rate_interval]', pid=2)]}
        status, _, err = self.run_lint(dashboard([row]))
        self.assertEqual(status, 1)
        self.assertIn('row "Exporter" > panel "Nested" (id 2), target A: promtool:', err)

    def test_variable_queries_are_checked(self):
        broken = dict(CHECK_VAR, query='label_values(deadman_check_info{job=~"$job"} and, check)')
        status, _, err = self.run_lint(dashboard([panel("Pings", GOOD)], variables=[broken]))
        self.assertEqual(status, 1)
        self.assertIn('variable "check": promtool:', err)

    def test_prometheus_annotations_are_checked(self):
        annotation = {"name": "Reloads", "datasource": DS,
                      "expr": 'changes(deadman_config_last_reload_success_timestamp_seconds{job=~"$job"}[$__rate_interval]) >'}
        status, _, err = self.run_lint(dashboard([panel("Pings", GOOD)], annotations=[annotation]))
        self.assertEqual(status, 1)
        self.assertIn('annotation "Reloads": promtool:', err)

    def test_several_dashboards_each_named_in_errors(self):
        status, out, err = self.run_lint(
            dashboard([panel("Good", GOOD)]),
            dashboard([panel("Bad", "sum(", pid=3)]),
        )
        self.assertEqual(status, 1)
        self.assertIn("dashboard-1.json: panel \"Bad\" (id 3), target A: promtool:", err)
        self.assertNotIn("dashboard-0.json", err)
        self.assertIn("2 files", out)

    def test_shipped_dashboards_pass(self):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = lint.main([])
        self.assertEqual(status, 0, err.getvalue())
        self.assertIn("2 files", out.getvalue())


class Substitution(LintTestCase):
    def test_variables_are_substituted_in_checked_queries(self):
        status, out, err = self.run_lint(dashboard([panel("Pings", GOOD)]), args=["--print-queries"])
        self.assertEqual(status, 0, err)
        self.assertIn('panel "Pings" (id 1), target A:\n    sum without (instance, pod) '
                      '(rate(deadman_check_pings_total{job=~"deadman", check="lint_placeholder"}[1m]))\n', out)

    def test_var_option_overrides_the_default(self):
        status, out, err = self.run_lint(dashboard([panel("Pings", GOOD)]),
                                         args=["--print-queries", "--var", "check=backup", "--var", "job=other"])
        self.assertEqual(status, 0, err)
        self.assertIn('{job=~"other", check="backup"}', out)

    def test_substitute_forms(self):
        values = {"job": "deadman", "__rate_interval": "1m"}
        self.assertEqual(
            lint.substitute('a{job=~"$job"}[$__rate_interval] ${job} ${job:regex} [[job]] $other', values),
            'a{job=~"deadman"}[1m] deadman deadman deadman $other',
        )

    def test_variable_value(self):
        self.assertEqual(lint.variable_value({"current": {"value": ["a", "b.c"]}}), r"(a|b\.c)")
        self.assertEqual(lint.variable_value({"current": {"value": "$__all"}}), ".*")
        self.assertEqual(lint.variable_value({"current": {"value": ["$__all"]}, "allValue": "d.*"}), "d.*")
        self.assertEqual(lint.variable_value({"current": {}}), lint.PLACEHOLDER)
        self.assertEqual(lint.variable_value({"type": "constant", "query": "x", "current": {}}), "x")

    def test_variable_promql(self):
        self.assertEqual(lint.variable_promql('label_values(up{job="a, b"}, job)'), 'up{job="a, b"}')
        self.assertIsNone(lint.variable_promql("label_values(job)"))
        self.assertIsNone(lint.variable_promql("metrics(deadman_)"))
        self.assertEqual(lint.variable_promql("query_result(sum(up))"), "sum(up)")
        self.assertEqual(lint.variable_promql("sum(up)"), "sum(up)")

    def test_undefined_variable_is_reported(self):
        status, _, err = self.run_lint(dashboard([panel("Typo", 'deadman_checks{job=~"$job", check="$chek"}')]))
        self.assertEqual(status, 1)
        self.assertIn('panel "Typo" (id 1), target A: references undefined variable $chek', err)


class QueryRules(LintTestCase):
    def test_selector_without_job_matcher(self):
        status, _, err = self.run_lint(dashboard([
            panel("Raw", 'count(deadman_build_info) + max without (instance, pod) (deadman_checks{job=~"$job"})'),
        ]))
        self.assertEqual(status, 1)
        self.assertIn('panel "Raw" (id 1), target A: selector deadman_build_info has no job=~"$job" matcher', err)
        self.assertEqual(err.count("ERROR"), 1, err)

    def test_job_variable_itself_needs_no_job_matcher(self):
        # JOB_VAR selects deadman_build_info{job="deadman"}.
        status, _, err = self.run_lint(dashboard([panel("Replicas", 'count(deadman_build_info{job=~"$job"})')],
                                                 variables=[]))
        self.assertEqual(status, 0, err)

    def test_rate_without_rate_interval(self):
        status, _, err = self.run_lint(dashboard([
            panel("Fixed", 'sum(increase(deadman_check_failures_total{job=~"$job"}[5m]))'),
        ]))
        self.assertEqual(status, 1)
        self.assertIn("increase() uses range [5m], must be [$__rate_interval]", err)

    def test_scanner_skips_grouping_labels_and_functions(self):
        expr = ('(max without (instance, pod) (a{job=~"$job"}) > 0)\n'
                '* on(job, check) group_left(owner, team)\n'
                'topk by (job, check) (1, b{job=~"$job", check="x"}) or vector(0)')
        self.assertEqual([name for name, _ in lint.series_selectors(expr)], ["a", "b"])
        self.assertEqual(lint.check_job_matchers(expr), [])


class StubPrometheus(http.server.BaseHTTPRequestHandler):
    """Answers /api/v1/query: an error for queries containing `missing_function`."""

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        query = urllib.parse.parse_qs(self.rfile.read(length).decode())["query"][0]
        if "missing_function" in query:
            status, body = 400, {"status": "error", "errorType": "bad_data", "error": "unknown function"}
        else:
            status, body = 200, {"status": "success", "data": {"resultType": "vector", "result": []}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class PrometheusUrl(LintTestCase):
    def setUp(self):
        super().setUp()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StubPrometheus)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def test_queries_are_executed(self):
        status, out, err = self.run_lint(dashboard([panel("Pings", GOOD)]), args=["--prometheus-url", self.url])
        self.assertEqual(status, 0, err)
        self.assertIn(f"all OK (also executed against {self.url})", out)

    def test_execution_errors_are_reported_with_the_panel(self):
        # The query parses; the stub fails it as Prometheus fails a query
        # at evaluation.
        status, _, err = self.run_lint(
            dashboard([panel("Pings", GOOD), panel("Odd", 'missing_function_total{job=~"$job"}', pid=2)]),
            args=["--prometheus-url", self.url],
        )
        self.assertEqual(status, 1)
        self.assertIn('panel "Odd" (id 2), target A: Prometheus: HTTP 400: bad_data: unknown function', err)
        self.assertEqual(err.count("ERROR"), 1, err)

    def test_unreachable_prometheus(self):
        status, _, err = self.run_lint(dashboard([panel("Pings", GOOD)]),
                                       args=["--prometheus-url", "http://127.0.0.1:9", "--timeout", "2"])
        self.assertEqual(status, 1)
        self.assertIn("cannot reach Prometheus at http://127.0.0.1:9/api/v1/query", err)


if __name__ == "__main__":
    unittest.main()
