//! The operator endpoints: `/-/healthy`, `/-/ready` and `/-/reload`.

use hyper::StatusCode;

use super::response::{not_ready, text, HttpResponse};
use crate::live_config::{LiveConfig, Reload};
use crate::store::writer::WriterHandle;

/// Healthy while storage commits succeed.
pub fn healthy(writer: &WriterHandle) -> HttpResponse {
    match writer.storage_fault() {
        None => text(StatusCode::OK, "Healthy."),
        Some(fault) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Unhealthy: storage is failing, pings are refused with 503: {fault}"),
        ),
    }
}

/// Ready once stored state is loaded.
pub fn ready(writer: &WriterHandle) -> HttpResponse {
    if writer.is_ready() {
        text(StatusCode::OK, "Ready.")
    } else {
        not_ready()
    }
}

/// `POST /-/reload` without `--web.enable-lifecycle`, as in Prometheus.
pub fn lifecycle_disabled() -> HttpResponse {
    text(
        StatusCode::FORBIDDEN,
        "Lifecycle API is not enabled: start deadman with --web.enable-lifecycle to allow \
         POST /-/reload (SIGHUP always reloads).",
    )
}

/// `POST /-/reload`, the same as SIGHUP.
pub async fn reload(config: &LiveConfig, writer: &WriterHandle) -> HttpResponse {
    match config.reload(writer).await {
        Ok(Reload { checks, unchanged }) => {
            let plural = if checks == 1 { "" } else { "s" };
            let note = match unchanged {
                true => " (the file and its token files are unchanged)",
                false => "",
            };
            text(
                StatusCode::OK,
                format!("Reloaded: {checks} check{plural}{note}."),
            )
        }
        Err(err) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, the previous config stays in effect: {err}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_app::{read, TestApp};
    use super::*;

    #[tokio::test]
    async fn ready_and_healthy_ask_the_writer() {
        let app = TestApp::ready().await;
        assert_eq!(read(ready(&app.app.writer)).await, (200, "Ready.\n".into()));
        assert_eq!(
            read(healthy(&app.app.writer)).await,
            (200, "Healthy.\n".into())
        );
    }
}
