//! `shadowtap pki init` / `pki add-agent`: a CA, a collector certificate and agent certificates for a first
//! deployment (rcgen, ECDSA P-256).
//!
//! Layout written to the directory (keys are created mode 0600):
//! `ca.pem`, `ca.key`, `collector.pem`, `collector.key`, `agents/<id>.pem`, `agents/<id>.key`.
//! An agent certificate carries its id as subject CN and as a DNS SAN: that is the identity the
//! collector reads. A bank with its own PKI skips this and issues the same shapes from it.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating {what}: {source}")]
    Gen { what: String, source: rcgen::Error },
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} already exists: refusing to overwrite a PKI (remove it or pick another directory)"
    )]
    Exists { path: String },
    #[error("{path}: not a usable CA certificate or key ({source})")]
    Ca { path: String, source: rcgen::Error },
    #[error("agent id {0:?} is not valid (1-256 characters of A-Z a-z 0-9 . _ - : @)")]
    AgentId(String),
}

/// What to create.
#[derive(Debug, Clone)]
pub struct PkiPlan {
    /// Names the collector certificate answers to (DNS names or IP addresses).
    pub collector_names: Vec<String>,
    pub agents: Vec<String>,
    /// Validity in days.
    pub days: u32,
}

/// Paths of what was written.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca: PathBuf,
    pub collector_cert: PathBuf,
    pub collector_key: PathBuf,
    /// (agent id, cert, key)
    pub agents: Vec<(String, PathBuf, PathBuf)>,
}

fn gen(what: &str) -> impl Fn(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Gen {
        what: what.to_string(),
        source,
    }
}

fn write(path: &Path, data: &str, private: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let _ = private;
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            PkiError::Exists {
                path: path.display().to_string(),
            }
        } else {
            io(e)
        }
    })?;
    f.write_all(data.as_bytes()).map_err(io)
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let start = rcgen::date_time_ymd(1970, 1, 1) + time_secs(now - 86_400);
    params.not_before = start;
    params.not_after = start + time_secs(i64::from(days) * 86_400 + 86_400);
}

fn time_secs(s: i64) -> std::time::Duration {
    std::time::Duration::from_secs(s.max(0) as u64)
}

fn leaf(
    cn: &str,
    names: &[String],
    usage: ExtendedKeyUsagePurpose,
    days: u32,
) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    for n in names {
        let san = match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.clone().try_into().map_err(gen(n))?),
        };
        p.subject_alt_names.push(san);
    }
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    validity(&mut p, days);
    Ok(p)
}

/// Create the CA, the collector certificate and one certificate per agent under `dir`.
pub fn init(dir: &Path, plan: &PkiPlan) -> Result<PkiFiles, PkiError> {
    for a in &plan.agents {
        if !analyzer::wire::valid_agent_id(a) {
            return Err(PkiError::AgentId(a.clone()));
        }
    }
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|source| PkiError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    mkdir(dir)?;
    mkdir(&dir.join("agents"))?;

    let ca_key = KeyPair::generate().map_err(gen("CA key"))?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "shadowtap deployment CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca, plan.days);
    let ca_cert = ca.self_signed(&ca_key).map_err(gen("CA certificate"))?;
    let files = PkiFiles {
        ca: dir.join("ca.pem"),
        collector_cert: dir.join("collector.pem"),
        collector_key: dir.join("collector.key"),
        agents: plan
            .agents
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    dir.join("agents").join(format!("{a}.pem")),
                    dir.join("agents").join(format!("{a}.key")),
                )
            })
            .collect(),
    };
    write(&files.ca, &ca_cert.pem(), false)?;
    write(&dir.join("ca.key"), &ca_key.serialize_pem(), true)?;
    let issuer = Issuer::new(ca, ca_key);

    let cn = plan
        .collector_names
        .first()
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let params = leaf(
        &cn,
        &plan.collector_names,
        ExtendedKeyUsagePurpose::ServerAuth,
        plan.days,
    )?;
    let key = KeyPair::generate().map_err(gen("collector key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(gen("collector certificate"))?;
    write(&files.collector_cert, &cert.pem(), false)?;
    write(&files.collector_key, &key.serialize_pem(), true)?;

    for (id, cert_path, key_path) in &files.agents {
        issue_agent(&issuer, id, cert_path, key_path, plan.days)?;
    }
    Ok(files)
}

/// One agent certificate and key, signed by `issuer`, written to `cert_path` / `key_path`.
fn issue_agent(
    issuer: &Issuer<'_, KeyPair>,
    id: &str,
    cert_path: &Path,
    key_path: &Path,
    days: u32,
) -> Result<(), PkiError> {
    let params = leaf(
        id,
        &[id.to_string()],
        ExtendedKeyUsagePurpose::ClientAuth,
        days,
    )?;
    let key = KeyPair::generate().map_err(gen(id))?;
    let cert = params.signed_by(&key, issuer).map_err(gen(id))?;
    write(cert_path, &cert.pem(), false)?;
    write(key_path, &key.serialize_pem(), true)
}

/// One more agent certificate in a PKI made by [`init`] (or any directory holding the CA as
/// `ca.pem` and `ca.key`): `DIR/agents/<id>.{pem,key}`, signed by that CA, so a new sensor
/// joins without re-issuing the others. Refuses an id that already has a certificate.
pub fn add_agent(dir: &Path, id: &str, days: u32) -> Result<(PathBuf, PathBuf), PkiError> {
    if !analyzer::wire::valid_agent_id(id) {
        return Err(PkiError::AgentId(id.to_string()));
    }
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| PkiError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let ca_pem = read("ca.pem")?;
    let ca_key = read("ca.key")?;
    let key = KeyPair::from_pem(&ca_key).map_err(|source| PkiError::Ca {
        path: dir.join("ca.key").display().to_string(),
        source,
    })?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, key).map_err(|source| PkiError::Ca {
        path: dir.join("ca.pem").display().to_string(),
        source,
    })?;
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).map_err(|source| PkiError::Io {
        path: agents.display().to_string(),
        source,
    })?;
    let cert_path = agents.join(format!("{id}.pem"));
    let key_path = agents.join(format!("{id}.key"));
    // Check both before writing either: a half-issued pair would block the retry.
    for p in [&cert_path, &key_path] {
        if p.exists() {
            return Err(PkiError::Exists {
                path: p.display().to_string(),
            });
        }
    }
    issue_agent(&issuer, id, &cert_path, &key_path, days)?;
    Ok((cert_path, key_path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::WebPkiClientVerifier;
    use rustls::RootCertStore;
    use rustls_pki_types::UnixTime;
    use std::sync::Arc;

    fn first_deployment(dir: &Path) -> PkiFiles {
        let plan = PkiPlan {
            collector_names: vec!["localhost".into()],
            agents: vec!["span-dc1-a".into()],
            days: 30,
        };
        init(dir, &plan).unwrap_or_else(|e| panic!("init: {e}"))
    }

    /// Whether the collector (trusting only `ca`) accepts `cert` as an agent certificate.
    fn collector_accepts(ca: &Path, cert: &Path) -> Result<(), rustls::Error> {
        let mut roots = RootCertStore::empty();
        for c in crate::tls::load_certs(ca).unwrap_or_else(|e| panic!("{e}")) {
            roots.add(c).unwrap_or_else(|e| panic!("{e}"));
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crate::tls::provider())
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
        let chain = crate::tls::load_certs(cert).unwrap_or_else(|e| panic!("{e}"));
        verifier
            .verify_client_cert(&chain[0], &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn an_added_agent_is_signed_by_the_existing_ca_and_named_by_its_id() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = first_deployment(tmp.path());
        let (cert, key) =
            add_agent(tmp.path(), "span-dc2-a", 30).unwrap_or_else(|e| panic!("add: {e}"));
        assert_eq!(cert, tmp.path().join("agents/span-dc2-a.pem"));
        collector_accepts(&files.ca, &cert).unwrap_or_else(|e| panic!("refused: {e}"));
        let chain = crate::tls::load_certs(&cert).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            crate::tls::cert_identity(&chain[0]).as_deref(),
            Some("span-dc2-a")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key)
                .unwrap_or_else(|e| panic!("{e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "agent key readable by others");
        }
        // A certificate from another deployment's CA is not accepted by this one.
        let other = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        first_deployment(other.path());
        let (foreign, _) =
            add_agent(other.path(), "span-dc2-a", 30).unwrap_or_else(|e| panic!("add: {e}"));
        assert!(collector_accepts(&files.ca, &foreign).is_err());
    }

    #[test]
    fn add_agent_refuses_a_taken_id_a_bad_id_and_a_missing_ca_key() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        first_deployment(tmp.path());
        let taken = add_agent(tmp.path(), "span-dc1-a", 30);
        assert!(matches!(taken, Err(PkiError::Exists { .. })), "{taken:?}");
        let bad = add_agent(tmp.path(), "no spaces", 30);
        assert!(matches!(bad, Err(PkiError::AgentId(_))), "{bad:?}");
        std::fs::remove_file(tmp.path().join("ca.key")).unwrap_or_else(|e| panic!("{e}"));
        let err = add_agent(tmp.path(), "span-dc3", 30)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("ca.key"), "{err}");
        assert!(!tmp.path().join("agents/span-dc3.pem").exists());
    }
}
