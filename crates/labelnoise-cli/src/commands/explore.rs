//! `labelnoise explore [--host H] [--port P] [--open]`: serve the live page of
//! `labelnoise-web` (docs/explore.md) until Ctrl-C.

use std::io::Write;

use clap::Args;

/// `labelnoise explore`.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Address to listen on. Anything but a loopback address exposes the page (and the
    /// CPU it uses) to the network: a warning is printed.
    #[arg(long, value_name = "H", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, value_name = "P", default_value_t = labelnoise_web::DEFAULT_PORT)]
    pub port: u16,
    /// Open the page in the default browser once the server listens.
    #[arg(long)]
    pub open: bool,
}

/// Whether `host` names this machine only.
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Serves until Ctrl-C; prints the address (and a warning for a non-loopback host).
pub fn run(args: &ExploreArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !is_loopback(&args.host) {
        eprintln!(
            "warning: --host {}: the page is reachable from other machines; anyone who \
             can reach it can run training on this computer (up to {} sessions)",
            args.host,
            labelnoise_web::MAX_SESSIONS
        );
    }
    let mut printed: std::io::Result<()> = Ok(());
    labelnoise_web::serve(&args.host, args.port, |addr| {
        let url = format!("http://{addr}/");
        printed = writeln!(
            out,
            "labelnoise explore: serving {url} (at most {} sessions; Ctrl-C stops it)",
            labelnoise_web::MAX_SESSIONS
        )
        .and_then(|()| out.flush());
        if args.open {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            if let Err(e) = std::process::Command::new(opener).arg(&url).spawn() {
                eprintln!("warning: --open: cannot start {opener}: {e}; open {url} by hand");
            }
        }
    })?;
    printed?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "192.168.1.4", "example.org", "::"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
