//! Flags that shape how a call goes out and what it prints: --proxy, --tor,
//! --color, -v/-q, --version, --help.

mod common;
use common::*;
use std::io::Read;
use std::time::Duration;

#[test]
fn proxy_carries_the_request() {
    let env = Env::builder().keys(1).build();
    // The connector names a host that does not resolve; only the proxy can reach "it".
    let mut connector: serde_json::Value =
        serde_json::from_str(&env.emulator.connector_json(CONN)).unwrap();
    connector["host"] = "gemini.invalid".into();
    connector["port"] = 80.into();
    std::fs::write(
        env.connectors().join(format!("{CONN}.json")),
        connector.to_string(),
    )
    .unwrap();
    let out = env.generate("via proxy", &[]);
    assert_ne!(code(&out), 0, "without the proxy the host is unreachable");
    // The emulator answers absolute-form requests, so it can stand in for an HTTP proxy.
    let out = env.generate("via proxy", &["--proxy", &env.emulator.url()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("echo: via proxy"));
}

#[test]
fn tor_speaks_socks5_to_port_9050() {
    // `--tor` means Tor's own port: this test needs it free. A test that
    // can't run fails, saying why, rather than passing.
    let listener = std::net::TcpListener::bind("127.0.0.1:9050").unwrap_or_else(|e| {
        panic!("this test plays Tor on 127.0.0.1:9050, which is taken ({e}): stop the Tor daemon to run it")
    });
    let env = Env::builder().keys(1).build();
    let accept = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut greeting = [0u8; 2];
        conn.read_exact(&mut greeting).unwrap();
        greeting
    });
    let out = env.generate("via tor", &["--tor", "--timeout", "5"]);
    let greeting = accept.join().unwrap();
    assert_eq!(greeting[0], 5, "a SOCKS5 greeting arrived on 9050");
    assert_eq!(code(&out), 1, "our fake Tor hangs up: a network error");
    assert_eq!(
        env.emulator.stats().requests,
        0,
        "nothing went around the proxy"
    );
}

#[test]
fn color_always_colors_stderr_and_never_does_not() {
    let env = Env::builder().keys(1).build();
    let out = env.run(&["no.such", "GET", "/", "--color", "always"]);
    assert!(stderr(&out).contains("\u{1b}["), "{}", stderr(&out));
    let out = env.run(&["no.such", "GET", "/", "--color", "never"]);
    assert!(!stderr(&out).contains("\u{1b}["));
    assert!(
        stderr(&out).starts_with("jongler: error: unknown connector"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verbose_names_the_key_and_quiet_silences_warnings() {
    let env = Env::builder()
        .key("spent", jongler::emulator::Behavior::DailyExhausted)
        .keys(1)
        .build();
    let out = env.generate("x", &["-v"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("answered 200 (key `key1`)"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(env.state()).unwrap();
    let out = env.generate("x", &["-q"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stderr(&out), "", "-q hides the rate-limit warning");
}

#[test]
fn version_and_help_with_the_exit_code_table() {
    let env = Env::builder().build();
    let out = env.run(&["--version"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out).trim(),
        format!("jongler {}", env!("CARGO_PKG_VERSION"))
    );
    let out = env.run(&["--help"]);
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    for line in [
        "3  no key available within --wait",
        "4  HTTP 4xx",
        "status",
        "completions",
        "--cleanup-all",
    ] {
        assert!(help.contains(line), "{line}: {help}");
    }
}

#[test]
fn subcommand_names_win_over_connector_names() {
    let env = Env::builder().keys(1).build();
    // A connector literally called "status" cannot shadow the subcommand.
    let mut connector: serde_json::Value =
        serde_json::from_str(&env.emulator.connector_json("status")).unwrap();
    connector["name"] = "status".into();
    std::fs::write(env.connectors().join("status.json"), connector.to_string()).unwrap();
    let out = env.run(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .is_array()
    );
}
