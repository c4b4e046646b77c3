//! A small, stateful SCIM 2.0 server shaped like Penvio, served on loopback.
//!
//! Why it exists: `penvio-sync demo` runs the real engine against it with no
//! external service; benchmarks use it as a fast target; integration tests
//! assert on what it holds ([`Emulator::users`], [`Emulator::groups`]) and on
//! what was sent ([`Emulator::request_log`]); fault injection
//! ([`Emulator::inject`]: error statuses, 429 storms, slow answers,
//! connection resets, HTML and truncated bodies, a token revoked mid-run;
//! see [`FaultRule`]) exercises retries, `Retry-After` handling and what
//! the client records when an answer is lost.
//!
//! Behaviour follows RFC 7643/7644 and the real server's quirks (see
//! `SCIM-REQUESTS.md`): base path `/api/scim/v2/{org}`, PATCH answers
//! `204 No Content` unless `attributes`/`excludedAttributes` is given,
//! `userName` is unique per org ignoring case, member ids are not validated,
//! an existing member is stored once, and deleting a user leaves its id in
//! the groups' `members` (no cleanup). Immutable attributes are not enforced
//! beyond the read-only `id` and `meta`.
//!
//! Storage is one `std::sync::Mutex` over all orgs; each collection keeps
//! indexes (`userName` lowercased → id, `externalId` → ids) so equality
//! lookups do not scan.

mod error;
mod fault;
mod filter;
mod net;
mod patch;
mod projection;
mod routes;
mod schemas;
mod store;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::EmulatorError;
pub use fault::{Fault, FaultAction, FaultRule, FaultTrigger, Faults, ScriptedResponse};
pub use schemas::{ERROR_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE, PATCH_OP, ResourceKind, USER_SCHEMA};

use store::OrgStore;

/// Default and upper bound of `count` on list requests (`filter.maxResults`).
pub const DEFAULT_PAGE_SIZE_MAX: usize = 1000;
/// Default number of requests kept in the request log.
pub const DEFAULT_MAX_LOGGED_REQUESTS: usize = 200_000;

/// How to run an [`Emulator`].
///
/// `Debug` is hand-written so the accepted tokens never reach logs.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Orgs that exist. Empty: any org is created on its first request, so
    /// each test can use a fresh org on one server.
    pub orgs: Vec<String>,
    /// Accepted bearer tokens. Empty: no authentication.
    pub tokens: Vec<String>,
    /// Largest page a list request returns (and the default `count`).
    pub page_size_max: usize,
    /// Fixed delay added before answering every request.
    pub latency: Option<Duration>,
    /// How many requests the log keeps (oldest dropped first); the read and
    /// write counters keep counting past it. Bounded so long benchmarks do
    /// not grow memory without limit.
    pub max_logged_requests: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            orgs: Vec::new(),
            tokens: Vec::new(),
            page_size_max: DEFAULT_PAGE_SIZE_MAX,
            latency: None,
            max_logged_requests: DEFAULT_MAX_LOGGED_REQUESTS,
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("orgs", &self.orgs)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("page_size_max", &self.page_size_max)
            .field("latency", &self.latency)
            .field("max_logged_requests", &self.max_logged_requests)
            .finish()
    }
}

/// One request the emulator answered, for assertions in tests.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Full request path (`/api/scim/v2/org-1/Users/…`), percent-encoded as sent.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Status the emulator answered; 0 when no HTTP answer went out (the
    /// connection was reset, or the client closed it first).
    pub status: u16,
    /// Whether the request changes data (POST other than `.search`, PUT,
    /// PATCH, DELETE), whatever its outcome.
    pub is_write: bool,
    /// Wall-clock time the request arrived.
    pub at: SystemTime,
    /// Monotonic time the request arrived, for rate assertions.
    pub received: Instant,
    /// The injected fault that shaped the answer (`status 503`, `reset`,
    /// `html 200 after apply`, …), if any; ` (client gone)` is appended when
    /// the client closed the connection before the answer.
    pub fault: Option<String>,
}

/// Locks a mutex, recovering the data if a previous holder panicked: the
/// emulator's state stays usable for the assertions that follow.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// State shared by the server task and the [`Emulator`] handle.
pub(crate) struct Shared {
    config: EmulatorConfig,
    origin: String,
    orgs: Mutex<HashMap<String, OrgStore>>,
    log: Mutex<VecDeque<LoggedRequest>>,
    faults: Mutex<Faults>,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl Shared {
    fn base_url(&self, org: &str) -> String {
        format!("{}{}{org}", self.origin, routes::PREFIX)
    }

    fn record(&self, entry: LoggedRequest) {
        let counter = if entry.is_write {
            &self.writes
        } else {
            &self.reads
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut log = lock(&self.log);
        if self.config.max_logged_requests == 0 {
            return;
        }
        while log.len() >= self.config.max_logged_requests {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

/// A running emulator on `127.0.0.1`. Dropping it stops the server.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Binds `127.0.0.1:0` (a free port) and starts serving in the background.
    /// Call it inside a Tokio runtime: the server runs as a spawned task.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let faults = Faults {
            latency: config.latency,
            ..Faults::default()
        };
        let shared = Arc::new(Shared {
            config,
            origin: format!("http://{addr}"),
            orgs: Mutex::new(HashMap::new()),
            log: Mutex::new(VecDeque::new()),
            faults: Mutex::new(faults),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        });
        let app = routes::router(Arc::clone(&shared))
            .into_make_service_with_connect_info::<net::ResetHandle>();
        let listener = net::ResettableListener::new(listener);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "SCIM emulator stopped with an error.");
            }
        });
        tracing::debug!(%addr, "SCIM emulator listening.");
        Ok(Emulator {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The socket the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SCIM base URL of an org: `http://127.0.0.1:PORT/api/scim/v2/{org}`.
    pub fn base_url(&self, org: &str) -> String {
        self.shared.base_url(org)
    }

    fn snapshot(&self, org: &str, kind: ResourceKind) -> Vec<Value> {
        let orgs = lock(&self.shared.orgs);
        orgs.get(org)
            .map(|o| {
                o.collection(kind)
                    .iter()
                    .map(|s| Value::Object(s.doc.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The users an org holds now, in creation order, as a GET would return them.
    pub fn users(&self, org: &str) -> Vec<Value> {
        self.snapshot(org, ResourceKind::User)
    }

    /// The groups an org holds now, in creation order.
    pub fn groups(&self, org: &str) -> Vec<Value> {
        self.snapshot(org, ResourceKind::Group)
    }

    /// How many resources of a kind an org holds (cheap, no copies).
    pub fn count(&self, org: &str, kind: ResourceKind) -> usize {
        lock(&self.shared.orgs)
            .get(org)
            .map_or(0, |o| o.collection(kind).len())
    }

    /// Creates a resource without HTTP (seeding large stores for benchmarks).
    /// Same validation as `POST`; returns the stored representation.
    pub fn insert(
        &self,
        org: &str,
        kind: ResourceKind,
        resource: &Value,
    ) -> Result<Value, EmulatorError> {
        if !self.shared.config.orgs.is_empty() && !self.shared.config.orgs.iter().any(|o| o == org)
        {
            return Err(EmulatorError::not_found(format!("unknown org '{org}'")));
        }
        let base = self.base_url(org);
        let mut orgs = lock(&self.shared.orgs);
        let store = orgs.entry(org.to_string()).or_insert_with(OrgStore::new);
        let stored = store.collection_mut(kind).create(resource, &base)?;
        Ok(Value::Object(stored.doc.clone()))
    }

    /// Every logged request, oldest first (see [`EmulatorConfig::max_logged_requests`]).
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Requests that change data since start or the last [`Emulator::clear_log`].
    pub fn write_count(&self) -> usize {
        self.shared.writes.load(Ordering::Relaxed)
    }

    /// Requests that only read since start or the last [`Emulator::clear_log`].
    pub fn read_count(&self) -> usize {
        self.shared.reads.load(Ordering::Relaxed)
    }

    /// Empties the log and resets both counters.
    pub fn clear_log(&self) {
        let mut log = lock(&self.shared.log);
        log.clear();
        self.shared.reads.store(0, Ordering::Relaxed);
        self.shared.writes.store(0, Ordering::Relaxed);
    }

    /// Injects a fault; it applies to requests that arrive from now on.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).inject(fault);
    }

    /// The faults in force now (scripted answers not yet used included).
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    /// Stops accepting connections and waits (up to 5 s) for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
