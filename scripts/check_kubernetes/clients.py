"""Jobs that report to deadman (`deadman run` in a CronJob): the URL,
the check, its schedule and its token."""

from urllib.parse import urlsplit

from .manifests import CRON_MACROS, UTC_NAMES, as_list, dig, posix_norm


class Clients:
    """Checks on the jobs that ping deadman."""

    def check_clients(self, clients, servers, fronted):
        for doc, template, prefix, c, volumes, field, argv in clients:
            env = {e.get("name"): e for e in as_list(c.get("env"))}
            values, _ = self.parse_client_args(argv)
            url = values.get("--url") or dig(env, "DEADMAN_URL", "value")
            if not url:
                self.fail(doc, f"{field}.env[DEADMAN_URL]", "missing (or --url)")
                continue
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
            labels = host.split(".")
            svc_name = labels[0]
            svc_ns = labels[1] if len(labels) > 1 else doc.namespace
            if len(labels) > 2 and labels[2] != "svc":
                self.fail(doc, f"{field}.env[DEADMAN_URL]", f"{url}: {host} is not a Service's DNS name (<service>.<namespace>.svc)")
                continue
            svc = self.get(doc, "Service", svc_ns, svc_name)
            if svc is None:
                self.fail(doc, f"{field}.env[DEADMAN_URL]", f"{url}: no Service {svc_ns}/{svc_name} in {self.kdisplay}/")
                continue
            ports = {p.get("port"): p for p in as_list(dig(svc.obj, "spec", "ports"))}
            if port not in ports:
                self.fail(doc, f"{field}.env[DEADMAN_URL]", f"{url}: port {port} is not a port of {svc.where()} "
                          f"(ports: {', '.join(map(str, ports))})")
                continue
            targets = [srv for srv, p in fronted.get(svc.key, []) if p is ports[port]]
            if not targets:
                self.fail(doc, f"{field}.env[DEADMAN_URL]", f"{url}: {svc.where()} port {port} reaches no deadman")
                continue
            if parts.scheme != "http":
                self.fail(doc, f"{field}.env[DEADMAN_URL]", f"{url}: deadman serves plain http here")
            srv = targets[0]
            check_name = values.get("--check") or dig(env, "DEADMAN_CHECK", "value")
            if not check_name or srv["toml"] is None:
                continue
            checks = {ch.get("name"): ch for ch in as_list(srv["toml"].get("check"))}
            config = srv["config"][1]
            check = checks.get(check_name)
            if check is None:
                self.fail(doc, f"{field}.env[DEADMAN_CHECK]", f"{check_name!r} is not a check of {config.where()} "
                          f"(checks: {', '.join(sorted(map(str, checks)))})")
                continue
            if doc.kind == "CronJob":
                self.check_schedule(doc, check, check_name, config)
            self.check_client_token(doc, field, c, volumes, env, values, check, check_name, srv)

    @staticmethod
    def parse_client_args(argv):
        values, i = {}, 1
        while i < len(argv) and argv[i] != "--":
            name, eq, value = argv[i].partition("=")
            if name in ("--url", "--check", "--token-file"):
                if not eq and i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                values[name] = value
            i += 1
        return values, None

    def check_schedule(self, doc, check, name, config):
        cron = check.get("cron")
        if cron is None:
            self.note(f"{doc.where()}: check {name!r} has no cron; its schedule is not compared")
            return
        schedule = str(dig(doc.obj, "spec", "schedule", default=""))
        schedule = CRON_MACROS.get(schedule.strip(), schedule)
        if schedule.split() != str(cron).split():
            self.fail(doc, "spec.schedule", f"is {schedule!r}, but check {name!r} of {config.where()} expects cron {cron!r}")
        zone = dig(doc.obj, "spec", "timeZone", default="UTC")
        expected = check.get("timezone", "UTC")
        if zone != expected and not (zone in UTC_NAMES and expected in UTC_NAMES):
            self.fail(doc, "spec.timeZone", f"is {zone!r}, but check {name!r} of {config.where()} reads its cron in {expected!r}")

    def check_client_token(self, doc, field, c, volumes, env, values, check, name, srv):
        server_token = None
        for where, _path, _mount, (secret, key) in srv.get("secret_files", []):
            if where == f"check {name!r}" or (where == "[defaults]" and not any(
                    k in check for k in ("token", "token_file", "token_env"))):
                server_token = (secret, key)
        has_token = any(k in check for k in ("token", "token_file", "token_env")) or server_token is not None
        token_file = values.get("--token-file") or dig(env, "DEADMAN_TOKEN_FILE", "value")
        client_token = None
        if token_file:
            found = self.mount_of(c, volumes, posix_norm(token_file))
            tf = f"{field}.env[DEADMAN_TOKEN_FILE]"
            if found is None or found[1] is None or found[1]["files"] is None:
                self.fail(doc, tf, f"{token_file} is not inside a Secret volume's mount")
                return
            entry = found[1]["files"].get(found[2])
            if entry is None:
                self.fail(doc, tf, f"{token_file}: {found[2]!r} is no key of the volume mounted at {found[0]['mountPath']} "
                          f"(keys: {', '.join(sorted(found[1]['files'])) or 'none'})")
                return
            if entry[0].kind != "Secret":
                self.fail(doc, tf, f"{token_file} is in {entry[0].kind} {entry[0].name}; a token belongs in a Secret")
                return
            client_token = entry
        elif "DEADMAN_TOKEN" in env:
            ref = dig(env, "DEADMAN_TOKEN", "valueFrom", "secretKeyRef")
            if ref is None:
                self.fail(doc, f"{field}.env[DEADMAN_TOKEN]", "holds the token in the pod spec; use a Secret")
                return
            secret = self.index.get(("Secret", doc.namespace, ref.get("name")))
            client_token = (secret, ref.get("key")) if secret else None
        if has_token and not token_file and "DEADMAN_TOKEN" not in env:
            self.fail(doc, f"{field}.env", f"check {name!r} needs a token: set DEADMAN_TOKEN_FILE to a mounted Secret's key")
        if client_token and server_token:
            mine = self.object_value(*client_token)
            theirs = self.object_value(*server_token)
            if mine is not None and theirs is not None and mine.strip() != theirs.rstrip("\r\n"):
                self.fail(doc, f"{field}.env", f"the token in {client_token[0].where()} key {client_token[1]!r} is not "
                          f"deadman's for check {name!r} ({server_token[0].where()} key {server_token[1]!r})")
