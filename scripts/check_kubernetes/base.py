"""What every part of the checker shares: the problems and notes found,
the manifests loaded and indexed, and facts read from the repository
(the rules' job, the Dockerfile's user, the drain timeout, the scrape
interval)."""

import re

import yaml

from .manifests import API_VERSIONS, CLUSTER_SCOPED, Doc, UniqueKeyLoader, as_list, dig


class CheckerBase:
    """Problems, notes and the loaded manifests; the parts below add checks."""

    def __init__(self, root, kdir, binary=None, skip_binary=False, require_schema=False, skip_schema=False):
        self.root = root
        self.kdir = kdir
        self.binary = binary
        self.skip_binary = skip_binary
        self.require_schema = require_schema
        self.skip_schema = skip_schema
        self.problems = []
        self.notes = []
        self.docs = []
        self.index = {}
        self.refs = []  # (from doc, (kind, namespace, name)) for the kustomization closure
        self.summary = []
        try:
            self.kdisplay = kdir.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            self.kdisplay = str(kdir)

    def fail(self, doc, field, message):
        where = doc.where() if isinstance(doc, Doc) else str(doc)
        self.problems.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")

    def note(self, message):
        self.notes.append(message)

    def load(self):
        files = sorted(p for p in self.kdir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            self.fail(self.kdisplay, "", "no manifests")
        self.kustomization = None
        for path in files:
            display = f"{self.kdisplay}/{path.name}"
            try:
                objs = list(yaml.load_all(path.read_text(), Loader=UniqueKeyLoader))
            except yaml.YAMLError as err:
                self.fail(display, "", f"not valid YAML: {' '.join(str(err).split())}")
                continue
            for i, obj in enumerate(objs, 1):
                if obj is None:
                    continue
                if not isinstance(obj, dict):
                    self.fail(f"{display}: document {i}", "", "is not a mapping")
                    continue
                if obj.get("kind") == "Kustomization":
                    self.kustomization = (display, path, obj)
                    continue
                doc = Doc(display, i, obj)
                self.check_shape(doc)
                if doc.key in self.index:
                    self.fail(doc, "metadata.name", f"a second {doc.kind} of that name (first: {self.index[doc.key].where()})")
                    continue
                self.docs.append(doc)
                self.index[doc.key] = doc

    def check_shape(self, doc):
        obj = doc.obj
        if not isinstance(doc.kind, str):
            self.fail(f"{doc.file}: document {doc.index}", "kind", "missing")
            return
        expected = API_VERSIONS.get(doc.kind)
        if expected is None:
            self.note(f"{doc.where()}: kind {doc.kind} is not one this checker knows; only its schema is checked")
        elif obj.get("apiVersion") != expected:
            self.fail(doc, "apiVersion", f"is {obj.get('apiVersion')!r}; {doc.kind} is {expected}")
        if not isinstance(doc.name, str) or not doc.name:
            self.fail(f"{doc.file}: document {doc.index} ({doc.kind})", "metadata.name", "missing")
        if doc.kind not in CLUSTER_SCOPED and not doc.namespace:
            self.fail(doc, "metadata.namespace", "missing: without it `kubectl apply` puts the object in "
                      "the current context's namespace, and references from the other examples break")

    def get(self, doc_from, kind, namespace, name):
        """The object a reference names, recorded for the kustomization
        closure; None when absent."""
        key = (kind, namespace, name)
        self.refs.append((doc_from, key))
        return self.index.get(key)

    def of_kind(self, *kinds):
        return [d for d in self.docs if d.kind in kinds]

    def rules_job(self):
        rules = self.root / "alerts" / "deadman.rules.yml"
        jobs = set(re.findall(r'up\{job="([^"]+)"\}', rules.read_text()))
        if len(jobs) != 1:
            self.fail("alerts/deadman.rules.yml", "", f"expected one job in up{{job=\"...\"}}, found {sorted(jobs)}")
            return None
        job = jobs.pop()
        mixin = self.root / "mixin" / "config.libsonnet"
        if mixin.exists():
            m = re.search(r"^\s*jobName:\s*'([^']+)'", mixin.read_text(), re.M)
            if m and m.group(1) != job:
                self.fail("mixin/config.libsonnet", "jobName",
                          f"is {m.group(1)!r} but alerts/deadman.rules.yml selects job={job!r}")
        return job

    def dockerfile_user(self):
        users = re.findall(r"^USER\s+(\S+)", (self.root / "Dockerfile").read_text(), re.M)
        return users[-1] if users else None

    def drain_seconds(self):
        server = self.root / "src" / "web" / "server.rs"
        m = re.search(r"DRAIN_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", server.read_text()) if server.exists() else None
        return int(m.group(1)) if m else 10

    def scrape_interval(self):
        prom = yaml.safe_load((self.root / "examples" / "prometheus.yml").read_text())
        for job in as_list(prom.get("scrape_configs")):
            if job.get("scrape_interval"):
                return job["scrape_interval"], f"examples/prometheus.yml job {job.get('job_name')}"
        return dig(prom, "global", "scrape_interval", default="1m"), "examples/prometheus.yml global.scrape_interval"
