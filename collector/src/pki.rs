//! `shadowtap pki init`: a CA, a collector certificate and agent certificates for a first
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
        let params = leaf(
            id,
            std::slice::from_ref(id),
            ExtendedKeyUsagePurpose::ClientAuth,
            plan.days,
        )?;
        let key = KeyPair::generate().map_err(gen(id))?;
        let cert = params.signed_by(&key, &issuer).map_err(gen(id))?;
        write(cert_path, &cert.pem(), false)?;
        write(key_path, &key.serialize_pem(), true)?;
    }
    Ok(files)
}
