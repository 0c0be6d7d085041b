//! [`TlsSettings`] → a rustls server config, and the client-SAN check.
//!
//! Names follow Go's `crypto/tls`, as the exporter-toolkit format does;
//! what rustls does not offer (CBC and RSA key-exchange suites, TLS 1.0/1.1,
//! P-521) is refused with a sentence listing what it does offer.

use std::sync::Arc;

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{ClientAuth, Pem, TlsSettings, TlsVersion, WebConfigError};

/// A TLS 1.2 cipher suite, by its Go name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite(&'static str);

/// Go name → rustls suite; Go's `…_CHACHA20_POLY1305` aliases included.
const SUITES: [(&str, SupportedCipherSuite); 6] = [
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

impl Suite {
    pub fn parse(name: &str) -> Result<Suite, String> {
        let canonical = match name {
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            other => other,
        };
        if let Some((known, _)) = SUITES.iter().find(|(known, _)| *known == canonical) {
            return Ok(Suite(known));
        }
        if matches!(
            name,
            "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256"
        ) {
            return Err(format!(
                "{name} is a TLS 1.3 suite, which cannot be configured (TLS 1.3 suites are \
                 always on, as in Go); list only TLS 1.2 suites"
            ));
        }
        let offered: Vec<&str> = SUITES.iter().map(|(known, _)| *known).collect();
        Err(format!(
            "{name} is not supported: rustls offers only these TLS 1.2 suites: {}",
            offered.join(", ")
        ))
    }

    fn rustls(self) -> SupportedCipherSuite {
        SUITES
            .iter()
            .find(|(known, _)| *known == self.0)
            .map(|(_, suite)| *suite)
            .unwrap_or(cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
    }
}

/// A key-exchange group, by its Go name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Curve(&'static str);

const CURVES: [(&str, &dyn SupportedKxGroup); 3] = [
    ("X25519", kx_group::X25519),
    ("CurveP256", kx_group::SECP256R1),
    ("CurveP384", kx_group::SECP384R1),
];

impl Curve {
    pub fn parse(name: &str) -> Result<Curve, String> {
        match CURVES.iter().find(|(known, _)| *known == name) {
            Some((known, _)) => Ok(Curve(known)),
            None => {
                let offered: Vec<&str> = CURVES.iter().map(|(known, _)| *known).collect();
                Err(format!(
                    "{name} is not supported: rustls offers {}",
                    offered.join(", ")
                ))
            }
        }
    }

    fn rustls(self) -> &'static dyn SupportedKxGroup {
        CURVES
            .iter()
            .find(|(known, _)| *known == self.0)
            .map(|(_, group)| *group)
            .unwrap_or(kx_group::X25519)
    }
}

fn read_pem(pem: &Pem, what: &str) -> Result<Vec<u8>, WebConfigError> {
    match pem {
        Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        Pem::File(path) => std::fs::read(path).map_err(|e| {
            WebConfigError::Tls(format!("cannot read the {what} {}: {e}", path.display()))
        }),
    }
}

/// Where a PEM came from, for messages (never its contents).
fn origin(pem: &Pem, inline_key: &str) -> String {
    match pem {
        Pem::File(path) => path.display().to_string(),
        Pem::Inline(_) => format!("(inline {inline_key})"),
    }
}

fn certificates(
    pem: &Pem,
    what: &str,
    inline_key: &str,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let bytes = read_pem(pem, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            WebConfigError::Tls(format!(
                "the {what} {} is not PEM: {e}",
                origin(pem, inline_key)
            ))
        })?;
    if certs.is_empty() {
        return Err(WebConfigError::Tls(format!(
            "the {what} {} holds no CERTIFICATE block",
            origin(pem, inline_key)
        )));
    }
    Ok(certs)
}

/// The crypto provider with the configured suites and curves.
fn provider(settings: &TlsSettings) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if !settings.cipher_suites.is_empty() {
        let mut suites: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .filter(|suite| suite.tls13().is_some())
            .copied()
            .collect();
        suites.extend(settings.cipher_suites.iter().map(|suite| suite.rustls()));
        provider.cipher_suites = suites;
    }
    if !settings.curves.is_empty() {
        provider.kx_groups = settings.curves.iter().map(|curve| curve.rustls()).collect();
    }
    provider
}

/// Builds the rustls config: reads the certificate, key and client CA
/// (files or inline) and checks that they fit together.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, WebConfigError> {
    let provider = Arc::new(provider(settings));
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (settings.min_version..=settings.max_version).contains(version))
    .map(|(_, version)| version)
    .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| WebConfigError::Tls(format!("tls_server_config: {e}")))?;
    let builder = match (&settings.client_auth, &settings.client_ca) {
        (ClientAuth::NoClientCert, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca, "client CA", "client_ca")? {
                roots.add(cert).map_err(|e| {
                    WebConfigError::Tls(format!("the client CA {}: {e}", origin(ca, "client_ca")))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::VerifyClientCertIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| WebConfigError::Tls(format!("the client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let chain = certificates(&settings.cert, "certificate", "cert")?;
    let key_bytes = read_pem(&settings.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        WebConfigError::Tls(format!(
            "the key {} holds no usable private key: {e}",
            origin(&settings.key, "key")
        ))
    })?;
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        WebConfigError::Tls(format!(
            "the certificate {} and key {} do not fit together: {e}",
            origin(&settings.cert, "cert"),
            origin(&settings.key, "key")
        ))
    })?;
    config.ignore_client_order = settings.prefer_server_cipher_suites;
    // HTTP/1.1 only; announcing it lets clients skip an h2 attempt.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether a verified client certificate carries one of `allowed` exactly
/// among its DNS, IP, e-mail and URI SANs (true when `allowed` is empty).
pub fn client_san_allowed(peer: Option<&[CertificateDer<'_>]>, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(leaf) = peer.and_then(|chain| chain.first()) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return false;
    };
    let Ok(Some(sans)) = cert.subject_alternative_name() else {
        return false;
    };
    use x509_parser::extensions::GeneralName;
    sans.value.general_names.iter().any(|name| {
        let text = match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                s.to_string()
            }
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .map(|b| std::net::IpAddr::from(b).to_string())
                    .unwrap_or_default(),
                16 => <[u8; 16]>::try_from(*bytes)
                    .map(|b| std::net::IpAddr::from(b).to_string())
                    .unwrap_or_default(),
                _ => return false,
            },
            _ => return false,
        };
        allowed.contains(&text)
    })
}
