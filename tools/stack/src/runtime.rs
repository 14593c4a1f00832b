//! The Lambda Runtime API, one emulated instance per function: the function's binary runs
//! as Lambda runs it (`AWS_LAMBDA_RUNTIME_API` pointing here, the template's environment),
//! polls `/runtime/invocation/next`, and answers `/response` or `/error`. An instance that
//! exits, reports an init error or runs past its timeout is replaced at the next invocation
//! (a cold start), as Lambda does.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result};
use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Why an invocation produced no answer.
#[derive(Debug)]
pub enum Failure {
    /// The function reported an error (`/error`): its JSON body.
    Function(String),
    /// The instance failed to start (`/init/error`, or it exited).
    Init(String),
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Function(body) => write!(f, "function error: {body}"),
            Self::Init(why) => write!(f, "init error: {why}"),
            Self::Timeout => write!(f, "task timed out"),
        }
    }
}

type Reply = oneshot::Sender<Result<Vec<u8>, Failure>>;

struct Invocation {
    id: String,
    event: Vec<u8>,
    deadline_ms: i64,
    reply: Reply,
}

struct Shared {
    name: String,
    /// Invocations waiting for the instance's next poll.
    pending: Mutex<mpsc::Receiver<Invocation>>,
    /// Invocations handed out, waiting for their answer.
    running: std::sync::Mutex<HashMap<String, Reply>>,
    /// An init error the instance reported.
    init_error: std::sync::Mutex<Option<String>>,
}

pub struct Instance {
    pub name: String,
    binary: PathBuf,
    env: BTreeMap<String, String>,
    timeout: Duration,
    log: PathBuf,
    api: String,
    shared: Arc<Shared>,
    sender: mpsc::Sender<Invocation>,
    child: Mutex<Option<tokio::process::Child>>,
    /// One invocation at a time, as one Lambda instance runs them.
    turn: Mutex<()>,
    pub invocations: std::sync::atomic::AtomicU64,
    pub cold_starts: std::sync::atomic::AtomicU64,
}

impl Instance {
    /// Starts the Runtime API for a function; its binary starts at the first invocation.
    pub async fn new(
        name: &str,
        binary: PathBuf,
        env: BTreeMap<String, String>,
        timeout: Duration,
        log: PathBuf,
    ) -> Result<Arc<Self>> {
        let (sender, receiver) = mpsc::channel(1024);
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            pending: Mutex::new(receiver),
            running: std::sync::Mutex::new(HashMap::new()),
            init_error: std::sync::Mutex::new(None),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?.to_string();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("paspor-stack: runtime API stopped: {e}");
            }
        });
        Ok(Arc::new(Self {
            name: name.to_owned(),
            binary,
            env,
            timeout,
            log,
            api,
            shared,
            sender,
            child: Mutex::new(None),
            turn: Mutex::new(()),
            invocations: 0.into(),
            cold_starts: 0.into(),
        }))
    }

    /// Starts the binary unless an instance is running.
    async fn ensure_running(&self) -> Result<()> {
        let mut child = self.child.lock().await;
        if let Some(c) = child.as_mut()
            && c.try_wait()?.is_none()
        {
            return Ok(());
        }
        *self
            .shared
            .init_error
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))? = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.env_clear()
            .envs(&self.env)
            .env("AWS_LAMBDA_RUNTIME_API", &self.api)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        *child = Some(
            cmd.spawn()
                .with_context(|| format!("start {}", self.binary.display()))?,
        );
        self.cold_starts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The process id of the running instance, if any.
    pub async fn pid(&self) -> Option<u32> {
        self.child.lock().await.as_ref().and_then(|c| c.id())
    }

    /// Stops the instance (SIGTERM, then SIGKILL after a second).
    pub async fn stop(&self) {
        let mut child = self.child.lock().await;
        if let Some(mut c) = child.take() {
            if let Some(pid) = c.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            if tokio::time::timeout(Duration::from_secs(1), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(&self, event: Vec<u8>) -> Result<Vec<u8>, Failure> {
        let _turn = self.turn.lock().await;
        self.invocations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.ensure_running()
            .await
            .map_err(|e| Failure::Init(format!("{e:#}")))?;
        let id = ulid::Ulid::new().to_string().to_lowercase();
        let deadline = chrono::Utc::now()
            + chrono::TimeDelta::from_std(self.timeout).unwrap_or(chrono::TimeDelta::seconds(3));
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Invocation {
                id: id.clone(),
                event,
                deadline_ms: deadline.timestamp_millis(),
                reply,
            })
            .await
            .map_err(|_| Failure::Init("runtime API gone".into()))?;
        // Lambda's timeout counts from the invoke; a cold start's init is inside it here.
        let outcome = tokio::select! {
            answer = answer => answer.unwrap_or_else(|_| Err(Failure::Init("no answer".into()))),
            () = tokio::time::sleep(self.timeout) => Err(Failure::Timeout),
            why = self.exited() => Err(Failure::Init(why)),
        };
        if let Err(failure) = &outcome
            && !matches!(failure, Failure::Function(_))
        {
            // The instance is not trusted again: Lambda replaces it.
            self.stop().await;
            self.drain_stale(&id).await;
        }
        outcome
    }

    /// Resolves when the running instance exits or reports an init error.
    async fn exited(&self) -> String {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(Some(e)) = self.shared.init_error.lock().map(|e| e.clone()) {
                return e;
            }
            let mut child = self.child.lock().await;
            match child.as_mut().map(tokio::process::Child::try_wait) {
                Some(Ok(Some(status))) => {
                    return format!("the instance exited ({status}); see {}", self.log.display());
                }
                Some(Ok(None)) => {}
                _ => return "the instance is gone".into(),
            }
        }
    }

    /// Forgets an invocation that will never be answered, so the next poll gets new work.
    async fn drain_stale(&self, id: &str) {
        if let Ok(mut running) = self.shared.running.lock() {
            running.remove(id);
        }
        let mut pending = self.shared.pending.lock().await;
        while let Ok(stale) = pending.try_recv() {
            let _ = stale
                .reply
                .send(Err(Failure::Init("instance replaced".into())));
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let invocation = {
        let mut pending = shared.pending.lock().await;
        pending.recv().await
    };
    let Some(inv) = invocation else {
        return StatusCode::GONE.into_response();
    };
    if let Ok(mut running) = shared.running.lock() {
        running.insert(inv.id.clone(), inv.reply);
    }
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        crate::template::REGION,
        crate::template::ACCOUNT,
        shared.name
    );
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("lambda-runtime-aws-request-id", inv.id.clone()),
        ("lambda-runtime-deadline-ms", inv.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", arn),
        ("lambda-runtime-trace-id", format!("Root=1-{}", inv.id)),
        ("content-type", "application/json".into()),
    ] {
        if let Ok(v) = v.parse() {
            headers.insert(k, v);
        }
    }
    (StatusCode::OK, headers, inv.event).into_response()
}

fn answer(shared: &Shared, id: &str, outcome: Result<Vec<u8>, Failure>) -> StatusCode {
    let reply = shared.running.lock().ok().and_then(|mut r| r.remove(id));
    match reply {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&shared, &id, Ok(body.to_vec()))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(
        &shared,
        &id,
        Err(Failure::Function(
            String::from_utf8_lossy(&body).into_owned(),
        )),
    )
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let why = String::from_utf8_lossy(&body).into_owned();
    eprintln!("paspor-stack: {} failed to start: {why}", shared.name);
    if let Ok(mut e) = shared.init_error.lock() {
        *e = Some(why);
    }
    StatusCode::ACCEPTED
}
