"""The checker: every part's checks, in the order their results feed
each other."""

from .base import CheckerBase
from .binary import CheckConfig, deadman_flags
from .clients import Clients
from .kustomize import Kustomize
from .pods import Pods
from .routing import Routing
from .server import Server


class Checker(Pods, Server, Routing, Clients, Kustomize, CheckConfig, CheckerBase):
    """Every check on the Kubernetes examples; run() returns whether all passed."""

    def run(self):
        self.load()
        usable = not self.skip_binary and self.binary is not None and self.binary.is_file()
        self.flags, self.flags_source = deadman_flags(self.root, self.binary if usable else None)
        job = self.rules_job()
        servers, clients = [], []
        for kind, doc, template, prefix, c, volumes, field, rest in self.servers():
            if kind == "server":
                info = self.check_server(doc, template, prefix, c, volumes, field, rest)
                info["volumes"] = volumes
                servers.append(info)
            else:
                clients.append((doc, template, prefix, c, volumes, field, rest))
        if not servers:
            self.fail(self.kdisplay, "", "no deadman exporter (a container of the deadman image, or running deadman)")
        fronted = self.check_services(servers)
        monitors = self.check_service_monitors(servers, fronted, job)
        self.check_prometheus_rules(monitors)
        self.check_clients(clients, servers, fronted)
        listed = self.check_kustomization()
        self.check_namespaces(listed)
        self.check_schemas()
        self.run_check_config(servers)
        return not self.problems
