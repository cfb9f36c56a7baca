//! The explore server over real sockets: assets only (path traversal gets 404), bad
//! messages get an error and the session goes on, the session limit, and the server
//! surviving each.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use labelnoise_web::Explorer;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn start(max_sessions: usize) -> SocketAddr {
    let explorer = Explorer::bind("127.0.0.1", 0, max_sessions).await.unwrap();
    let addr = explorer.local_addr().unwrap();
    tokio::spawn(explorer.run(std::future::pending()));
    addr
}

/// A raw HTTP/1.1 GET of `path` exactly as written (no client normalizes it).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn connect(addr: SocketAddr) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws
}

/// The next message of type `kind` (others skipped), within 20 seconds.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} message within 20 s"))
            .unwrap_or_else(|| panic!("the connection closed before a {kind} message"))
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_only_its_assets_and_path_traversal_gets_404() {
    let addr = start(2).await;
    let (status, body) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("data-testid=\"canvas-data\""));
    for path in ["/app.js", "/style.css", "/favicon.svg", "/api/presets"] {
        assert_eq!(get(addr, path).await.0, 200, "{path}");
    }
    let (_, presets) = get(addr, "/api/presets").await;
    assert!(presets.contains("\"fig1\"") && presets.contains("\"v8\""));
    for path in [
        "/../../../../etc/passwd",
        "/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/app.js/../../Cargo.toml",
        "/assets/../Cargo.toml",
        "/../Cargo.toml",
        "/src/lib.rs",
        "/index.html%00.js",
        "/....//....//etc/passwd",
    ] {
        let (status, body) = get(addr, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.contains("root:") && !body.contains("[package]"),
            "{path}"
        );
    }
    // Still serving.
    assert_eq!(get(addr, "/").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_an_error_and_the_session_goes_on() {
    let addr = start(2).await;
    let mut ws = connect(addr).await;
    let hello = next_of(&mut ws, "hello").await;
    assert_eq!(hello["limits"]["max_width"], 4096);
    next_of(&mut ws, "state").await;
    let settings = hello["defaults"].clone();
    let oversized = format!(r#"{{"type":"play","pad":"{}"}}"#, "x".repeat(40_000));
    let mut wide = settings.clone();
    wide["width"] = 5000.into();
    let mut deep = settings.clone();
    deep["depth"] = 4.into();
    let mut unknown = settings.clone();
    unknown["colour"] = "red".into();
    let too_many: Vec<[f64; 2]> = (0..201).map(|i| [i as f64, 0.0]).collect();
    let cases = [
        ("malformed", "{not json".to_string(), "message"),
        ("unknown type", r#"{"type":"fly"}"#.to_string(), "message"),
        ("oversized", oversized, "bytes"),
        (
            "non-finite (NaN)",
            r#"{"type":"points","points":[[0,1],[1,NaN]]}"#.to_string(),
            "message",
        ),
        (
            "non-finite (overflow)",
            r#"{"type":"points","points":[[0,1],[1,1e999]]}"#.to_string(),
            "message",
        ),
        (
            "width",
            format!(r#"{{"type":"settings","settings":{wide}}}"#),
            "settings.width",
        ),
        (
            "depth",
            format!(r#"{{"type":"settings","settings":{deep}}}"#),
            "settings.depth",
        ),
        (
            "unknown field",
            format!(r#"{{"type":"settings","settings":{unknown}}}"#),
            "colour",
        ),
        (
            "too many points",
            serde_json::json!({"type": "points", "points": too_many}).to_string(),
            "200",
        ),
    ];
    for (what, text, expect) in cases {
        send(&mut ws, &text).await;
        let err = next_of(&mut ws, "error").await;
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(expect), "{what}: {message}");
    }
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    assert!(next_of(&mut ws, "error").await["message"]
        .as_str()
        .unwrap()
        .contains("binary"));
    // The session goes on: a step is taken and a frame with a step count comes back.
    send(&mut ws, r#"{"type":"step"}"#).await;
    loop {
        let frame = next_of(&mut ws, "frame").await;
        if frame["step"].as_u64().unwrap() > 0 {
            assert_eq!(frame["plain"]["f"].as_array().unwrap().len(), 401);
            break;
        }
    }
    // And the server serves new sessions.
    let mut other = connect(addr).await;
    next_of(&mut other, "hello").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_limit_are_refused_and_a_closed_tab_frees_its_slot() {
    let addr = start(2).await;
    let mut a = connect(addr).await;
    next_of(&mut a, "hello").await;
    let mut b = connect(addr).await;
    next_of(&mut b, "hello").await;
    send(&mut a, r#"{"type":"play"}"#).await;
    let mut c = connect(addr).await;
    let refused = next_of(&mut c, "refused").await;
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("at most 2 at once"));
    // The refused connection is closed by the server.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match c.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                _ => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the refused connection stayed open");
    // The first two still run.
    let f = next_of(&mut a, "frame").await;
    assert!(f["playing"].as_bool().unwrap());
    // Closing a tab stops its runs and frees its slot.
    a.close(None).await.unwrap();
    drop(a);
    let mut accepted = false;
    for _ in 0..50 {
        let mut d = connect(addr).await;
        let first = tokio::time::timeout(Duration::from_secs(5), d.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
        if v["type"] == "hello" {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "a closed session's slot was not freed");
    assert_eq!(get(addr, "/").await.0, 200);
}
