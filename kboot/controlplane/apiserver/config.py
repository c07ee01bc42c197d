"""The apiserver's settings (one frozen value built from the command line by ``main``)."""

from __future__ import annotations

from dataclasses import dataclass

from kboot.controlplane.apiserver.tokens import ISSUER


@dataclass(frozen=True)
class ServerConfig:
    bind_address: str = "0.0.0.0"
    secure_port: int = 6443
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    storage: str = "sqlite:////var/lib/kboot/apiserver.db"
    encryption_provider_config: str = ""
    # every key that verifies tokens (repeatable, several PEM blocks per file: a key rotation
    # keeps the old public key until its tokens expire); the signing key is
    # --service-account-signing-key-file, else the first private key among these
    service_account_key_file: tuple[str, ...] = ()
    service_account_signing_key_file: str = ""
    token_auth_file: str = ""
    service_account_issuer: str = ISSUER
    api_audiences: str = ""  # comma-separated; empty: the issuer
    kubelet_client_certificate: str = ""
    kubelet_client_key: str = ""
    kubelet_certificate_authority: str = ""  # defaults to --client-ca-file (the cluster CA)
    # towards aggregated servers; default: the kubelet client certificate and the client CA
    proxy_client_cert_file: str = ""
    proxy_client_key_file: str = ""
    requestheader_client_ca_file: str = ""
    apiservice_probe_interval: float = 5.0  # seconds between availability checks
    advertise_address: str = "127.0.0.1"
    service_cluster_ip_range: str = "10.96.0.0/12"
    service_node_port_range: str = "30000-32767"
    compaction_interval: float = 300.0
    bookmark_interval: float = 60.0
    authorization_mode: str = "Node,RBAC"
    min_request_timeout: int = 1800
    # SIGTERM: seconds of serving on (not ready, out of the `kubernetes` endpoints) before the
    # listener closes, for kube-proxies and load balancers to stop sending new connections
    shutdown_delay_seconds: float = 5.0
    endpoint_lease_duration: int = 30  # seconds an apiserver stays an endpoint unrenewed
    endpoint_reconcile_interval: float = 10.0  # seconds between lease renewals and reconciles
