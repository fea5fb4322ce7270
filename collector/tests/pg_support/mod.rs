//! A real PostgreSQL 15 server for the tests, in a temporary directory on a free loopback
//! port: `initdb` and `pg_ctl` from Debian's `postgresql` package (CI installs it), run as the
//! `postgres` user when the tests run as root (PostgreSQL refuses to run as root). Stopped
//! and removed when dropped. Shared by the collector's store tests and the fleet tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SHADOWTAP_PG_BIN") {
        return PathBuf::from(d);
    }
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    assert!(
        debian.join("initdb").exists(),
        "PostgreSQL 15 is not installed ({} has no initdb): `apt-get install postgresql`, \
         or point SHADOWTAP_PG_BIN at its bin directory",
        debian.display()
    );
    debian
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl PgServer {
    /// initdb a fresh cluster and start it.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("shadowtap-pg")
            .tempdir()
            .expect("tempdir");
        if is_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(st.success(), "chown {} to postgres", dir.path().display());
        }
        let server = PgServer {
            dir,
            bin,
            port: free_port(),
        };
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "shadowtap",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        server.up();
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `tool` of the server's bin directory, as the `postgres` user when we are root.
    fn tool(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .tool(tool)
            .args(args)
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether the server is running.
    pub fn is_up(&self) -> bool {
        let data = self.data();
        self.tool("pg_ctl")
            .args(["-D", &data, "status"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Start the server (waits until it accepts connections).
    pub fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.path().display()
        );
        let log = self.path().join("server.log").display().to_string();
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &opts, "-w", "start"],
        );
    }

    /// Stop the server: `fast` ends sessions and shuts down cleanly; else `immediate` (as a
    /// crash: recovery from the WAL on the next start).
    pub fn down(&self, fast: bool) {
        let data = self.data();
        let mode = if fast { "fast" } else { "immediate" };
        self.run("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"]);
    }

    /// Turn TLS on with `cert`/`key` (PEM) as the server's identity and `ca` as the roots it
    /// checks client certificates against, replace `pg_hba.conf` by `hba` (its lines), and
    /// restart. Create databases before: `createdb` here connects without a client certificate.
    pub fn enable_tls(&self, cert: &Path, key: &Path, ca: &Path, hba: &[&str]) {
        let data = self.dir.path().join("data");
        for (from, name) in [(cert, "server.crt"), (key, "server.key"), (ca, "root.crt")] {
            std::fs::copy(from, data.join(name)).expect("copy a TLS file into the cluster");
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        std::io::Write::write_all(
            &mut conf,
            b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'root.crt'\n",
        )
        .expect("write postgresql.conf");
        std::fs::write(data.join("pg_hba.conf"), hba.join("\n") + "\n").expect("write pg_hba.conf");
        if is_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status()
                .expect("run chown");
            assert!(st.success(), "chown the TLS files to postgres");
        }
        let st = Command::new("chmod")
            .arg("600")
            .arg(data.join("server.key"))
            .status()
            .expect("run chmod");
        assert!(st.success(), "chmod the server key");
        self.down(true);
        self.up();
    }

    /// Run `query` through the server's Unix socket (no TLS, no password: `local` lines of
    /// pg_hba.conf); its rows, one per line, fields separated by `|`.
    pub fn sql(&self, query: &str) -> String {
        let port = self.port.to_string();
        let socket = self.path().display().to_string();
        let out = self
            .tool("psql")
            .args([
                "-h",
                &socket,
                "-p",
                &port,
                "-U",
                "shadowtap",
                "-d",
                "postgres",
            ])
            .args(["-At", "-c", query])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Create database `name`; its URL.
    pub fn database(&self, name: &str) -> String {
        let port = self.port.to_string();
        let args = ["-h", "127.0.0.1", "-p", &port, "-U", "shadowtap", name];
        self.run("createdb", &args);
        format!("postgres://shadowtap@127.0.0.1:{port}/{name}")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .tool("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
