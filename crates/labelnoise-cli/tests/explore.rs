//! `labelnoise explore`: the command lines the page exports reproduce each panel bit for
//! bit through `labelnoise train`, and the server starts, prints its address and serves
//! the page.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;
use labelnoise_web::presets::preset_points;
use labelnoise_web::protocol::{ServerMessage, Settings};
use labelnoise_web::session::Session;

#[test]
fn exported_command_lines_reproduce_both_panels_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        width: 24,
        ..Settings::default()
    };
    let mut session = Session::new(settings, preset_points("fig1").unwrap()).unwrap();
    for _ in 0..3 {
        session.advance(700);
    }
    let ServerMessage::Export {
        data,
        commands,
        exact,
        ..
    } = session.export()
    else {
        panic!("not an export")
    };
    assert!(exact);
    std::fs::write(dir.path().join("explore-data.json"), data.to_string()).unwrap();
    let (plain, noise) = session.networks();
    for (command, net) in commands.iter().zip([plain, noise]) {
        let args: Vec<&str> = command.split(' ').collect();
        assert_eq!(&args[..2], ["labelnoise", "train"]);
        Command::cargo_bin("labelnoise")
            .unwrap()
            .current_dir(dir.path())
            .args(&args[1..])
            .arg("--quiet")
            .assert()
            .success();
        let out = args[args.iter().position(|a| *a == "--out").unwrap() + 1];
        let text = std::fs::read_to_string(dir.path().join(out).join("model.json")).unwrap();
        let trained = labelnoise_core::model_io::model_from_json(&text, "model.json").unwrap();
        assert_eq!(trained.params(), net.params(), "{command}");
    }
}

#[test]
fn explore_prints_its_address_and_serves_the_page() {
    let mut child = StdCommand::cargo_bin("labelnoise")
        .unwrap()
        .args(["explore", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("labelnoise explore"));
}

#[test]
fn a_non_loopback_host_gets_a_warning_and_a_bad_host_an_error() {
    Command::cargo_bin("labelnoise")
        .unwrap()
        .args(["explore", "--host", "no such host name", "--port", "0"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("warning: --host"))
        .stderr(predicates::str::contains("no such host name"));
}
