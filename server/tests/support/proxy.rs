//! HAProxy with the repository's `deploy/haproxy.cfg`, as it is, in front
//! of two nodes on loopback: the deployment's proxy in the multi-node tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The HAProxy binary (`SAMTALE_TEST_HAPROXY`, default `/usr/sbin/haproxy`),
/// or `None` when it is not installed (`bash .ci/run` installs it).
pub fn haproxy_binary() -> Option<String> {
    let path = std::env::var("SAMTALE_TEST_HAPROXY").unwrap_or_else(|_| "/usr/sbin/haproxy".into());
    Path::new(&path).exists().then_some(path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A running HAProxy; stopped when dropped.
pub struct Proxy {
    child: Child,
    /// `http://127.0.0.1:port`
    pub base: String,
    /// `ws://127.0.0.1:port/ws`
    pub ws_url: String,
    pub log: PathBuf,
}

impl Proxy {
    /// The address clients will use, chosen before the nodes start (they
    /// are told it as their public URL).
    pub fn reserve_port() -> u16 {
        free_port()
    }

    /// Starts HAProxy on `port` with `deploy/haproxy.cfg` in front of the
    /// nodes at `nodes` (`host:port`), a throwaway certificate for its TLS
    /// frontend, and its log in `dir`; returns once it answers `/readyz`
    /// with 200 (a node behind it is up and its health check passed).
    pub async fn start(haproxy: &str, port: u16, nodes: [&str; 2], dir: &Path) -> Proxy {
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-days",
                "1",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .unwrap();
        assert!(made.status.success(), "openssl: {made:?}");
        let pem = [
            std::fs::read(dir.join("cert.pem")).unwrap(),
            std::fs::read(dir.join("key.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(certs.join("samtale.pem"), pem).unwrap();
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy.cfg");
        let log = dir.join("haproxy.log");
        let child = Command::new(haproxy)
            .args(["-db", "-f", config])
            .env("SAMTALE_PROXY_HTTP", format!("127.0.0.1:{port}"))
            .env("SAMTALE_PROXY_HTTPS", format!("127.0.0.1:{}", free_port()))
            .env("SAMTALE_PROXY_PLAIN_HTTP", "1")
            .env("SAMTALE_TLS_CERTS", &certs)
            .env("SAMTALE_NODE1", nodes[0])
            .env("SAMTALE_NODE2", nodes[1])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start haproxy");
        let proxy = Proxy {
            child,
            base: format!("http://127.0.0.1:{port}"),
            ws_url: format!("ws://127.0.0.1:{port}/ws"),
            log,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", proxy.base)).send().await
                && r.status() == 200
            {
                return proxy;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the proxy never became ready:\n{}",
                std::fs::read_to_string(&proxy.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
