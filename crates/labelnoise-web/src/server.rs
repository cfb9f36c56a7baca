//! The HTTP and WebSocket server (axum on tokio): the embedded assets, the presets as
//! JSON, and one WebSocket per browser session, each session's runs on their own
//! thread ([`crate::session::run`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{mpsc, Semaphore};

use crate::assets::asset;
use crate::error::{Error, Result};
use crate::presets::presets;
use crate::protocol::{parse_message, ServerMessage, MAX_FRAME_BYTES};
use crate::session::{self, Outbox};

/// The most sessions (browser tabs) served at once. Each session steps its two runs on
/// two threads; the machines this targets have 2 cores, so 4 sessions already share
/// them four ways.
pub const MAX_SESSIONS: usize = 4;

/// The port `labelnoise explore` listens on by default.
pub const DEFAULT_PORT: u16 = 8787;

/// Messages buffered towards one page; frames beyond are dropped (the page is behind).
const OUTBOX_CAPACITY: usize = 4;

#[derive(Clone)]
struct AppState {
    slots: Arc<Semaphore>,
    max_sessions: usize,
}

/// The server, bound and ready to serve.
pub struct Explorer {
    listener: tokio::net::TcpListener,
    app: Router,
}

impl Explorer {
    /// Binds `host:port` (port 0: any free port) and builds the routes, serving at most
    /// `max_sessions` sessions at once.
    pub async fn bind(host: &str, port: u16, max_sessions: usize) -> Result<Self> {
        let addr = format!("{host}:{port}");
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| Error::Bind {
                addr: addr.clone(),
                source,
            })?;
        let state = AppState {
            slots: Arc::new(Semaphore::new(max_sessions)),
            max_sessions,
        };
        let app = Router::new()
            .route("/ws", get(ws_handler))
            .route("/api/presets", get(presets_handler))
            .fallback(static_handler)
            .with_state(state);
        Ok(Explorer { listener, app })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(Error::Serve)
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve)
    }
}

/// Serves on `host:port` until Ctrl-C, on a runtime of its own; calls `ready` with the
/// bound address once listening.
pub fn serve(host: &str, port: u16, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Serve)?;
    runtime.block_on(async {
        let explorer = Explorer::bind(host, port, MAX_SESSIONS).await?;
        ready(explorer.local_addr()?);
        explorer
            .run(async {
                // Without a Ctrl-C handler the process ends on SIGINT anyway.
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
}

async fn static_handler(uri: Uri) -> Response {
    match asset(uri.path()) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

async fn presets_handler() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&presets()).unwrap_or_else(|_| "[]".into()),
    )
        .into_response()
}

async fn ws_handler(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| session_socket(socket, state))
}

fn text(msg: &ServerMessage) -> String {
    serde_json::to_string(msg).unwrap_or_default()
}

/// The session's outbox: a bounded channel to the socket's task.
struct ChannelOutbox(mpsc::Sender<String>);

impl Outbox for ChannelOutbox {
    fn frame(&mut self, text: String) -> bool {
        match self.0.try_send(text) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn send(&mut self, text: String) -> bool {
        self.0.blocking_send(text).is_ok()
    }
}

async fn session_socket(mut socket: WebSocket, state: AppState) {
    let Ok(_slot) = state.slots.clone().try_acquire_owned() else {
        let msg = ServerMessage::Refused {
            message: format!(
                "too many sessions: this server runs at most {} at once; close another tab \
                 and reload",
                state.max_sessions
            ),
        };
        let _ = socket.send(Message::Text(text(&msg).into())).await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(OUTBOX_CAPACITY);
    let max_sessions = state.max_sessions;
    let worker = std::thread::spawn(move || {
        let mut outbox = ChannelOutbox(out_tx);
        session::run(cmd_rx, &mut outbox, max_sessions);
    });
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => match parse_message(t.as_str()) {
                    Ok(msg) => {
                        if cmd_tx.send(msg).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let err = ServerMessage::Error { message: e.to_string() };
                        if socket.send(Message::Text(text(&err).into())).await.is_err() {
                            break;
                        }
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    let err = ServerMessage::Error {
                        message: "message: binary messages are not accepted (send JSON text)"
                            .into(),
                    };
                    if socket.send(Message::Text(text(&err).into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            outgoing = out_rx.recv() => match outgoing {
                Some(t) => {
                    if socket.send(Message::Text(t.into())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    // Closing the command channel ends the session's loop; its runs stop with it.
    drop(cmd_tx);
    drop(out_rx);
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
}
