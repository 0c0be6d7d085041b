"""The deadman container: its flags, config and token files, storage,
probes, security context and the config reloader beside it."""

import tomllib
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from .manifests import as_dict, as_list, dig, is_loopback, parse_listen, posix_norm


class Server:
    """Checks on each deadman exporter container."""

    @staticmethod
    def image_name(container):
        image = str(container.get("image") or "")
        image = image.split("@")[0]
        last = image.rsplit("/", 1)[-1]
        return last.split(":")[0]

    def command_line(self, container):
        """deadman's arguments (after the binary) if the container runs the
        deadman image or binary, else None."""
        command = [str(a) for a in as_list(container.get("command"))]
        args = [str(a) for a in as_list(container.get("args"))]
        if command:
            if PurePosixPath(command[0]).name != "deadman":
                return None
            return command[1:] + args
        if self.image_name(container) == "deadman":
            return args
        return None

    def parse_args(self, doc, field, argv, flags):
        """{flag: [values]} and the subcommand; unknown flags are reported."""
        values, subcommand, i = {}, None, 0
        while i < len(argv):
            arg = argv[i]
            if arg == "--":
                break
            if arg.startswith("--"):
                name, eq, value = arg.partition("=")
                if name not in flags:
                    self.fail(doc, field, f"{name} is not a deadman flag ({self.flags_source} lists "
                              f"{', '.join(sorted(f for f in flags if f not in ('--help', '--version')))})")
                elif flags[name] and not eq:
                    i += 1
                    value = argv[i] if i < len(argv) else ""
                elif not flags[name] and eq:
                    self.fail(doc, field, f"{name} takes no value")
                values.setdefault(name, []).append(value if flags.get(name) else True)
            elif subcommand is None:
                subcommand = arg
                if arg in ("run", "ping"):
                    break
            i += 1
        return values, subcommand

    def servers(self):
        """Every deadman exporter container, with what the other checks need."""
        found = []
        for doc, template, prefix in self.pod_templates():
            volumes = self.check_pod(doc, template, prefix)
            for group, c in self.containers(template):
                argv = self.command_line(c)
                if argv is None:
                    continue
                field = f"{prefix}spec.{group}[{c.get('name')}]"
                if argv[:1] in (["run"], ["ping"]):
                    found.append(("client", doc, template, prefix, c, volumes, field, argv))
                    continue
                values, subcommand = self.parse_args(doc, field + (".args" if c.get("args") else ".command"),
                                                     argv, self.flags)
                if subcommand in ("run", "ping"):
                    found.append(("client", doc, template, prefix, c, volumes, field, argv))
                elif subcommand in (None, "serve") and doc.kind in ("Deployment", "StatefulSet", "DaemonSet", "Pod"):
                    found.append(("server", doc, template, prefix, c, volumes, field, values))
        return found

    def check_server(self, doc, template, prefix, c, volumes, field, values):
        info = {"doc": doc, "container": c, "template": template, "config": None, "toml": None,
                "ports": set(), "telemetry": "/metrics", "mounts": []}
        args_field = field + ".args"

        # --config.file: a key of a mounted ConfigMap.
        config = (values.get("--config.file") or [None])[-1]
        if config is None:
            self.fail(doc, args_field, "no --config.file (the default deadman.toml is relative to the working directory)")
        else:
            path = posix_norm(config if config.startswith("/") else posix_norm("/" + (c.get("workingDir") or "/") + "/" + config))
            found = self.mount_of(c, volumes, path)
            if found is None or found[1] is None or found[1]["type"] not in ("configMap", "projected"):
                self.fail(doc, args_field, f"--config.file {config} is not inside a ConfigMap volume's mount "
                          f"(mounts: {', '.join(m.get('mountPath', '?') for m in as_list(c.get('volumeMounts'))) or 'none'})")
            else:
                mount, vol, rel = found
                entry = vol["files"].get(rel)
                if entry is None or entry[0].kind != "ConfigMap":
                    self.fail(doc, args_field, f"--config.file {config}: {rel!r} is no key of the ConfigMap mounted at "
                              f"{mount['mountPath']} (keys: {', '.join(sorted(vol['files'])) or 'none'})")
                else:
                    info["config"] = (path, entry[0], entry[1])
                    text = self.object_value(entry[0], entry[1])
                    try:
                        info["toml"] = tomllib.loads(text)
                    except tomllib.TOMLDecodeError as err:
                        self.fail(entry[0], f"data.{entry[1]}", f"not valid TOML: {err}")

        # Tokens: keys of a mounted Secret; variables from the environment.
        if info["toml"] is not None:
            self.check_config_secrets(doc, field, c, volumes, info)

        # --storage.path: on a persistent volume, writable, one per replica.
        storage = (values.get("--storage.path") or [None])[-1]
        if storage is None:
            self.fail(doc, args_field, "no --storage.path (the default data/ is relative to the working directory)")
        else:
            path = posix_norm(storage if storage.startswith("/") else "/" + storage)
            found = self.mount_of(c, volumes, path)
            if found is None or found[1] is None:
                self.fail(doc, args_field, f"--storage.path {storage} is on no volume: the state would be lost with the "
                          "container (and the root file system is read-only)")
            else:
                mount, vol, _ = found
                if vol["type"] not in ("pvc", "claimTemplate"):
                    self.fail(doc, args_field, f"--storage.path {storage} is on volume {mount['name']} ({vol['type']}), "
                              "not a PersistentVolumeClaim: the state would be lost with the pod")
                if mount.get("readOnly"):
                    self.fail(doc, f"{field}.volumeMounts[{mount['name']}].readOnly", "the storage volume must be writable")
                replicas = dig(doc.obj, "spec", "replicas", default=1)
                if vol["type"] == "pvc" and doc.kind == "Deployment":
                    if replicas != 1:
                        self.fail(doc, "spec.replicas", f"is {replicas}, with one claim for all: a second deadman on the same "
                                  "storage refuses to start (use a StatefulSet with volumeClaimTemplates for replicas)")
                    if dig(doc.obj, "spec", "strategy", "type") != "Recreate":
                        self.fail(doc, "spec.strategy.type", "must be Recreate: a rolling update starts the new pod while "
                                  "the old one still holds the storage lock")
                elif vol["type"] == "pvc" and replicas != 1:
                    self.fail(doc, "spec.replicas", f"is {replicas}, with one claim for all (use volumeClaimTemplates)")
                elif vol["type"] == "claimTemplate":
                    modes = dig(vol["template"], "spec", "accessModes", default=[])
                    if not set(modes) & {"ReadWriteOnce", "ReadWriteOncePod"}:
                        self.fail(doc, f"spec.volumeClaimTemplates[{mount['name']}].spec.accessModes",
                                  f"is {modes}; deadman's storage is one process's: ReadWriteOnce")
                if vol["type"] == "pvc" and vol.get("pvc") is not None:
                    modes = dig(vol["pvc"].obj, "spec", "accessModes", default=[])
                    if not set(modes) & {"ReadWriteOnce", "ReadWriteOncePod"}:
                        self.fail(vol["pvc"], "spec.accessModes", f"is {modes}; deadman's storage is one process's: ReadWriteOnce")

        # --web.listen-address: ports the probes, the Service and the reloader use.
        container_ports = {p.get("containerPort"): p.get("name") for p in as_list(c.get("ports"))}
        names = {p.get("name"): p.get("containerPort") for p in as_list(c.get("ports")) if p.get("name")}
        reachable = set()
        for address in values.get("--web.listen-address") or [":10070"]:
            parsed = parse_listen(address)
            if parsed is None:
                self.fail(doc, args_field, f"--web.listen-address {address!r} is not HOST:PORT or :PORT")
                continue
            host, port = parsed
            info["ports"].add(port)
            if not is_loopback(host):
                reachable.add(port)
                if port not in container_ports:
                    self.fail(doc, f"{field}.ports", f"deadman listens on {port} (--web.listen-address {address}) "
                              "but the container declares no such containerPort")
        info["reachable"] = reachable
        info["port_names"] = names
        for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
            get = dig(c, probe, "httpGet")
            if get is None:
                self.fail(doc, f"{field}.{probe}", f"missing (httpGet {path})")
                continue
            if get.get("path") != path:
                self.fail(doc, f"{field}.{probe}.httpGet.path", f"is {get.get('path')!r}; deadman's is {path}")
            port = names.get(get.get("port"), get.get("port"))
            if port not in reachable:
                self.fail(doc, f"{field}.{probe}.httpGet.port", f"{get.get('port')!r} is not a port deadman listens on "
                          f"for the kubelet (--web.listen-address: {sorted(reachable) or 'loopback only'})")
            if dig(c, probe, "httpGet", "scheme", default="HTTP") != "HTTP" and not values.get("--web.config.file"):
                self.fail(doc, f"{field}.{probe}.httpGet.scheme", "is HTTPS but deadman has no --web.config.file")
        info["telemetry"] = (values.get("--web.telemetry-path") or ["/metrics"])[-1]
        info["lifecycle"] = bool(values.get("--web.enable-lifecycle"))
        info["web_config"] = bool(values.get("--web.config.file"))

        # Shutdown: SIGTERM, then up to the drain timeout for requests in flight.
        grace = dig(template, "spec", "terminationGracePeriodSeconds", default=30)
        drain = self.drain_seconds()
        if not isinstance(grace, int) or grace <= drain:
            self.fail(doc, f"{prefix}spec.terminationGracePeriodSeconds",
                      f"is {grace}; deadman drains requests for up to {drain} s after SIGTERM, then checkpoints: give it more")

        self.check_security(doc, template, prefix, c)
        self.check_reloader(doc, template, prefix, c, volumes, info)
        return info

    def check_config_secrets(self, doc, field, c, volumes, info):
        config_path, config_map, _ = info["config"]
        base = str(PurePosixPath(config_path).parent)
        conf = info["toml"]
        tables = [("[defaults]", as_dict(conf.get("defaults")), "token")]
        for check in as_list(conf.get("check")):
            tables.append((f"check {check.get('name')!r}", as_dict(check), "token"))
        if "badges" in conf:
            tables.append(("[badges]", as_dict(conf["badges"]), "secret"))
        env_names = {e.get("name"): e for e in as_list(c.get("env"))}
        info["secret_files"] = []
        for where, table, word in tables:
            if f"{word}_file" in table:
                value = str(table[f"{word}_file"])
                path = posix_norm(value if value.startswith("/") else f"{base}/{value}")
                found = self.mount_of(c, volumes, path)
                tfield = f"data.{info['config'][2]}: {where}: {word}_file"
                if found is None or found[1] is None or found[1]["files"] is None:
                    self.fail(config_map, tfield, f"{value} is not inside a Secret volume's mount in {doc.where()} "
                              f"(mounts: {', '.join(m.get('mountPath', '?') for m in as_list(c.get('volumeMounts')))})")
                    continue
                mount, vol, rel = found
                entry = vol["files"].get(rel)
                if entry is None:
                    self.fail(config_map, tfield, f"{value}: {rel!r} is no key of the volume mounted at {mount['mountPath']} "
                              f"(keys: {', '.join(sorted(vol['files'])) or 'none'})")
                elif entry[0].kind != "Secret":
                    self.fail(config_map, tfield, f"{value} is in {entry[0].kind} {entry[0].name}; a {word} belongs in a Secret")
                else:
                    info["secret_files"].append((where, path, mount["mountPath"], entry))
            if f"{word}_env" in table:
                var = table[f"{word}_env"]
                env = env_names.get(var)
                if env is None:
                    self.fail(config_map, f"data.{info['config'][2]}: {where}: {word}_env",
                              f"{var} is not set in the container ({field}.env)")
                elif "value" in env:
                    self.fail(doc, f"{field}.env[{var}]", f"holds a {word} in the pod spec; take it from a Secret (valueFrom.secretKeyRef)")
            if word in table:
                self.note(f"{config_map.where()}: {where}: an inline {word} in a ConfigMap; prefer {word}_file and a Secret")

    def check_security(self, doc, template, prefix, deadman):
        pod = as_dict(dig(template, "spec", "securityContext"))
        user = self.dockerfile_user()
        for group, c in self.containers(template):
            cf = f"{prefix}spec.{group}[{c.get('name')}]"
            sc = as_dict(c.get("securityContext"))

            def setting(key, sc=sc):
                return sc.get(key, pod.get(key))

            if setting("runAsNonRoot") is not True:
                self.fail(doc, f"{cf}.securityContext.runAsNonRoot", "must be true (here or in the pod's securityContext)")
            if c is deadman and user is not None and str(setting("runAsUser")) != user:
                self.fail(doc, f"{cf}.securityContext.runAsUser", f"is {setting('runAsUser')}; the image's user is {user} (Dockerfile USER)")
            if setting("runAsUser") == 0:
                self.fail(doc, f"{cf}.securityContext.runAsUser", "is root")
            if sc.get("readOnlyRootFilesystem") is not True:
                self.fail(doc, f"{cf}.securityContext.readOnlyRootFilesystem", "must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                self.fail(doc, f"{cf}.securityContext.allowPrivilegeEscalation", "must be false")
            if "ALL" not in as_list(dig(sc, "capabilities", "drop")):
                self.fail(doc, f"{cf}.securityContext.capabilities.drop", "must include ALL")
            if as_list(dig(sc, "capabilities", "add")):
                self.fail(doc, f"{cf}.securityContext.capabilities.add", "deadman needs no capability")
            seccomp = dig(sc, "seccompProfile", "type") or dig(pod, "seccompProfile", "type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                self.fail(doc, f"{cf}.securityContext.seccompProfile.type", f"is {seccomp!r}; use RuntimeDefault (here or in the pod)")
            res = as_dict(c.get("resources"))
            for part, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
                if key not in as_dict(res.get(part)):
                    self.fail(doc, f"{cf}.resources.{part}.{key}", "missing")

    def check_reloader(self, doc, template, prefix, deadman, volumes, info):
        reloaders = []
        for group, c in self.containers(template):
            urls = [a.partition("=")[2] for a in map(str, as_list(c.get("args"))) if a.startswith("--reload-url=")]
            if c is deadman or not urls:
                continue
            reloaders.append(c)
            cf = f"{prefix}spec.{group}[{c.get('name')}]"
            url = urlsplit(urls[-1])
            if not is_loopback(url.hostname or "") or url.port not in info["ports"] or url.path != "/-/reload":
                self.fail(doc, f"{cf}.args", f"--reload-url {urls[-1]} is not deadman's http://127.0.0.1:PORT/-/reload "
                          f"(deadman listens on {sorted(info['ports'])})")
            if url.scheme != "http" and not any(str(a).startswith("--web.config.file") for a in as_list(deadman.get("args"))):
                self.fail(doc, f"{cf}.args", f"--reload-url {urls[-1]}: deadman serves plain http here")
            if not info["lifecycle"]:
                self.fail(doc, f"{prefix}spec.containers[{deadman.get('name')}].args",
                          f"no --web.enable-lifecycle, so the reloader's POST /-/reload ({c.get('name')}) gets 403")
            watched = {posix_norm(a.partition("=")[2]) for a in map(str, as_list(c.get("args"))) if a.startswith("--watched-dir=")}
            dirs = []
            if info["config"]:
                dirs.append(("the config file", str(PurePosixPath(info["config"][0]).parent)))
            for where, path, mount_path, _ in info.get("secret_files", []):
                dirs.append((f"{where}'s token file", str(PurePosixPath(path).parent)))
            for what, directory in dirs:
                if directory not in watched:
                    self.fail(doc, f"{cf}.args", f"no --watched-dir={directory}: a change to {what} would not be reloaded")
                    continue
                mine = self.mount_of(deadman, volumes, directory)
                theirs = self.mount_of(c, volumes, directory)
                if theirs is None or mine is None or theirs[0].get("name") != mine[0].get("name") or theirs[2] != mine[2]:
                    self.fail(doc, f"{cf}.volumeMounts", f"does not mount what deadman has at {directory} (volume "
                              f"{mine[0].get('name') if mine else '?'}): the reloader would watch an empty directory")
        if not reloaders:
            self.note(f"{doc.where()}: no config reloader: an edit of the ConfigMap or Secret applies on the next "
                      "SIGHUP, POST /-/reload or restart")
        info["reloaded"] = bool(reloaders)
