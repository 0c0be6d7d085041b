//! [`WebConfigWatch`]: the web config in force, re-read when the file or
//! the certificate, key or CA files it names change.
//!
//! exporter-toolkit re-reads its file on every request so that a rotated
//! certificate is picked up without a restart. deadman looks at the files'
//! metadata (inode, size, modification time) at most once a second, when a
//! connection or request asks for the current settings, and rebuilds only
//! when something changed. A change that does not load (a half-written key,
//! a typo) is logged and the settings in force stay: a bad rotation must not
//! take down the endpoint Prometheus pages from.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;

use super::basic_auth::BasicAuth;
use super::{tls, Pem, WebConfig, WebConfigError};

/// How often the files are looked at, at most.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What connections and requests use: built from one [`WebConfig`].
#[derive(Debug, Default)]
pub struct WebSettings {
    /// The TLS server config, when TLS is on.
    pub tls: Option<Arc<ServerConfig>>,
    /// SANs a client certificate must carry one of (empty: any).
    pub allowed_sans: Vec<String>,
    /// Basic auth, when users are configured.
    pub auth: Option<BasicAuth>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl WebSettings {
    fn build(config: WebConfig) -> Result<WebSettings, WebConfigError> {
        let (tls, allowed_sans) = match &config.tls {
            Some(settings) => (
                Some(tls::server_config(settings)?),
                settings.allowed_sans.clone(),
            ),
            None => (None, Vec::new()),
        };
        Ok(WebSettings {
            tls,
            allowed_sans,
            auth: BasicAuth::new(config.users),
            headers: config.headers,
        })
    }
}

/// A file's identity and version, as far as metadata tells.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Stamp {
    path: PathBuf,
    /// `None` if the file could not be looked at (the error comes on load).
    seen: Option<(u64, u64, SystemTime)>,
}

impl Stamp {
    fn of(path: PathBuf) -> Stamp {
        use std::os::unix::fs::MetadataExt as _;
        let seen = std::fs::metadata(&path).ok().map(|m| {
            (
                m.ino(),
                m.len(),
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            )
        });
        Stamp { path, seen }
    }
}

/// The files a web config was built from: itself and the PEM files it names.
fn stamps(path: &Path, config: &WebConfig) -> Vec<Stamp> {
    let mut files = vec![path.to_path_buf()];
    if let Some(tls) = &config.tls {
        for pem in [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Pem::File(file) = pem {
                files.push(file.clone());
            }
        }
    }
    files.into_iter().map(Stamp::of).collect()
}

struct Watched {
    path: PathBuf,
    stamps: Vec<Stamp>,
    checked: Instant,
}

/// The settings in force, and where they came from.
pub struct WebConfigWatch {
    current: RwLock<Arc<WebSettings>>,
    /// `None` without `--web.config.file`: nothing to watch.
    watched: Option<Mutex<Watched>>,
}

impl WebConfigWatch {
    /// No web config: plain HTTP, no basic auth, no extra headers.
    pub fn none() -> WebConfigWatch {
        WebConfigWatch {
            current: RwLock::new(Arc::new(WebSettings::default())),
            watched: None,
        }
    }

    /// Starts from `config`, loaded from `path`.
    pub fn new(path: PathBuf, config: WebConfig) -> Result<WebConfigWatch, WebConfigError> {
        let stamps = stamps(&path, &config);
        let settings = WebSettings::build(config)?;
        Ok(WebConfigWatch {
            current: RwLock::new(Arc::new(settings)),
            watched: Some(Mutex::new(Watched {
                path,
                stamps,
                checked: Instant::now(),
            })),
        })
    }

    /// The settings in force, after re-reading the files if they changed.
    pub fn current(&self) -> Arc<WebSettings> {
        if let Some(watched) = &self.watched {
            // try_lock: one caller re-reads; the others use what is in force.
            if let Ok(mut watched) = watched.try_lock() {
                if watched.checked.elapsed() >= CHECK_INTERVAL {
                    watched.checked = Instant::now();
                    self.refresh(&mut watched);
                }
            }
        }
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn refresh(&self, watched: &mut Watched) {
        let now: Vec<Stamp> = watched
            .stamps
            .iter()
            .map(|stamp| Stamp::of(stamp.path.clone()))
            .collect();
        if now == watched.stamps {
            return;
        }
        // read, not load: building the settings loads the certificates,
        // once.
        let loaded = WebConfig::read(&watched.path).and_then(|config| {
            let stamps = stamps(&watched.path, &config);
            WebSettings::build(config).map(|settings| (settings, stamps))
        });
        match loaded {
            Ok((settings, stamps)) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
                watched.stamps = stamps;
                tracing::info!(file = %watched.path.display(), "web config reloaded");
            }
            Err(err) => {
                // Not retried until a file changes again: one line per change.
                watched.stamps = now;
                tracing::error!(
                    file = %watched.path.display(),
                    error = %err,
                    "web config changed but does not load; keeping the one in force"
                );
            }
        }
    }
}
