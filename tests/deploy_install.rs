//! `deploy/install.sh` by the book, into a staging root: the service user exists, the binary,
//! units, man pages and completions are installed, the token and keys are readable by the
//! service user and nobody else, and a second run changes no secret.
//!
//! Needs root (it creates a system user); CI runs as root. As another user it says so and
//! checks nothing.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const USER: &str = "shadowtap-itest";

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn is_root() -> bool {
    let out = run(Command::new("id").arg("-u"));
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn uid_of(user: &str) -> u32 {
    let out = run(Command::new("id").args(["-u", user]));
    assert!(out.status.success(), "no user {user}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("uid of {user}: {e}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn owner(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

/// Whether `user` can read `path` (through every directory on the way).
fn readable_by(user: &str, path: &Path) -> bool {
    run(Command::new("runuser")
        .args(["-u", user, "--", "cat"])
        .arg(path))
    .status
    .success()
}

fn install(root: &Path) -> Output {
    let out = run(Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/install.sh"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["--user", USER, "--no-systemd", "--root"])
        .arg(root));
    assert!(
        out.status.success(),
        "install.sh failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

struct RemoveUser;

impl Drop for RemoveUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(USER).output();
        let _ = Command::new("groupdel").arg(USER).output();
    }
}

#[test]
fn install_script_sets_up_user_files_and_secrets_by_the_book() {
    if !is_root() {
        eprintln!("deploy_install: skipped, needs root (CI runs as root)");
        return;
    }
    let _cleanup = RemoveUser;
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The staging root must be traversable like `/` is.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let root = tmp.path();
    let at = |p: &str| -> PathBuf { root.join(p.trim_start_matches('/')) };

    // Keys as `pki init` leaves them (root-only), including a CA key that should not be here.
    let pki = at("/etc/shadowtap/pki");
    let out = run(Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["pki", "init"])
        .arg(&pki)
        .args(["--agent", "span-1"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let first = install(root);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("ca.key"), "CA key not reported: {stderr}");
    let uid = uid_of(USER);

    let binary = at("/usr/local/bin/shadowtap");
    assert_eq!(mode(&binary), 0o755);
    let version = run(Command::new(&binary).arg("--version"));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("shadowtap "));

    for unit in ["shadowtap-agent.service", "shadowtap-collector.service"] {
        let text = std::fs::read_to_string(at(&format!("/etc/systemd/system/{unit}")))
            .unwrap_or_else(|e| panic!("{unit}: {e}"));
        assert!(text.contains(&format!("\nUser={USER}\n")), "{unit}");
        assert!(text.contains(&format!("\nGroup={USER}\n")), "{unit}");
        assert!(
            text.contains("ExecStart=/usr/local/bin/shadowtap"),
            "{unit}"
        );
    }

    let token = at("/etc/shadowtap/api-token");
    assert_eq!(mode(&token), 0o600, "token mode");
    assert_eq!(owner(&token), uid, "token owner");
    assert!(
        readable_by(USER, &token),
        "the service cannot read its token"
    );
    assert!(!readable_by("nobody", &token), "others can read the token");
    let secret = at("/etc/shadowtap/site-secret.env");
    assert_eq!((mode(&secret), owner(&secret)), (0o600, 0));
    let secret_text = std::fs::read_to_string(&secret).unwrap_or_else(|e| panic!("{e}"));
    assert!(secret_text.starts_with("SHADOWTAP_SITE_SECRET=") && secret_text.len() > 40);

    let collector_key = pki.join("collector.key");
    let agent_key = pki.join("agents/span-1.key");
    for key in [&collector_key, &agent_key] {
        assert_eq!((mode(key), owner(key)), (0o600, uid), "{}", key.display());
        assert!(readable_by(USER, key), "{}", key.display());
        assert!(!readable_by("nobody", key), "{}", key.display());
    }
    let ca_key = pki.join("ca.key");
    assert_eq!((mode(&ca_key), owner(&ca_key)), (0o600, 0));
    assert!(
        !readable_by(USER, &ca_key),
        "the service can read the CA key"
    );

    let config = at("/etc/shadowtap/shadowtap.toml");
    assert_eq!(mode(&config), 0o640);
    assert!(readable_by(USER, &config));
    let state = at("/var/lib/shadowtap");
    assert_eq!((mode(&state), owner(&state)), (0o750, uid));
    assert!(at("/usr/local/share/man/man1/shadowtap-scan.1").is_file());
    assert!(at("/usr/local/share/man/man1/shadowtap-pki-add-agent.1").is_file());
    let completion =
        std::fs::read_to_string(at("/usr/share/bash-completion/completions/shadowtap"))
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(completion.contains("_shadowtap"), "not a bash completion");

    // A second run keeps every secret and the operator's configuration.
    let token_before = std::fs::read(&token).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&config, "# edited by the operator\n").unwrap_or_else(|e| panic!("{e}"));
    install(root);
    assert_eq!(std::fs::read(&token).unwrap_or_default(), token_before);
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap_or_default(),
        secret_text
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap_or_default(),
        "# edited by the operator\n"
    );
    assert_eq!(mode(&token), 0o600);
}
