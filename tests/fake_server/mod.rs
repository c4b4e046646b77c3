//! The serving task of a vendor fake, stopped when the last handle to the
//! fake is dropped. Fakes are `Clone` (tests hand them to helpers), so the
//! task is shared: a test that starts several large fakes, like B6 at
//! 100,000 users, frees each one's directory when it is done with it.

use std::sync::Arc;

/// Aborts the serving task when the last clone goes.
#[derive(Clone)]
pub struct ServerTask {
    _abort: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ServerTask {
    /// Serves `app` on `listener` until the last handle is dropped.
    pub fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> Self {
        let task = tokio::spawn(async move {
            // An abort ends the task here; a failed accept loop panics the
            // test that uses the fake, which is what it should see.
            axum::serve(listener, app).await.unwrap();
        });
        ServerTask {
            _abort: Arc::new(AbortOnDrop(task)),
        }
    }
}
