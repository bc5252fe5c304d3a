//! Test certificates, made with rcgen once per build directory, in Cargo's
//! temporary directory for integration tests (no private key is
//! committed; test processes share them instead of each leaving a copy in
//! /tmp): a CA with a server
//! certificate for localhost/127.0.0.1 and a client certificate; a second
//! server certificate (to test reloading); an expired server certificate;
//! and another CA with its own client certificate (a chain the server must
//! refuse).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    date_time_ymd,
};

pub struct Certs {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Another certificate for the same names, under CN "ferrokv second".
    pub server2_cert: PathBuf,
    pub server2_key: PathBuf,
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
}

/// The certificates (made by the first test process that needs them).
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-certs");
        if !dir.join("done").exists() {
            // Made aside and renamed into place: processes starting at once
            // each make a set, one wins, the others use it.
            let fresh = dir.with_extension(format!("{}", std::process::id()));
            make(&fresh);
            std::fs::write(fresh.join("done"), "").unwrap();
            if std::fs::rename(&fresh, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&fresh);
            }
        }
        paths(dir)
    })
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params, KeyPair::generate().unwrap())
}

/// A leaf certificate signed by `issuer`, written as `<name>.crt`/`.key`.
fn leaf(
    dir: &Path,
    name: &str,
    cn: &str,
    client: bool,
    issuer: &Issuer<'_, KeyPair>,
    expired: bool,
) {
    let sans = if client {
        Vec::new()
    } else {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    };
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2020, 1, 2);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// Writes every certificate and key into `dir`.
fn make(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let write_ca = |file: &str, name: &str| {
        let (params, key) = ca(name);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(file), cert.pem()).unwrap();
        Issuer::new(params, key)
    };
    let issuer = write_ca("ca.crt", "ferrokv test CA");
    let other_issuer = write_ca("other-ca.crt", "ferrokv other CA");
    leaf(dir, "server", "ferrokv", false, &issuer, false);
    leaf(dir, "server2", "ferrokv second", false, &issuer, false);
    leaf(dir, "expired", "ferrokv", false, &issuer, true);
    leaf(dir, "client", "client", true, &issuer, false);
    leaf(dir, "other-client", "intruder", true, &other_issuer, false);
}

/// The files `make` wrote into `dir`.
fn paths(dir: PathBuf) -> Certs {
    let f = |name: &str| dir.join(name);
    Certs {
        ca: f("ca.crt"),
        server_cert: f("server.crt"),
        server_key: f("server.key"),
        server2_cert: f("server2.crt"),
        server2_key: f("server2.key"),
        expired_cert: f("expired.crt"),
        expired_key: f("expired.key"),
        client_cert: f("client.crt"),
        client_key: f("client.key"),
        other_ca: f("other-ca.crt"),
        other_client_cert: f("other-client.crt"),
        other_client_key: f("other-client.key"),
        dir,
    }
}

/// The server arguments for TLS on `port` with these certificates.
pub fn server_args(port: u16) -> Vec<String> {
    let c = certs();
    let path = |p: &PathBuf| p.display().to_string();
    vec![
        "--tls-port".into(),
        port.to_string(),
        "--tls-cert-file".into(),
        path(&c.server_cert),
        "--tls-key-file".into(),
        path(&c.server_key),
        "--tls-ca-cert-file".into(),
        path(&c.ca),
    ]
}

/// A rustls client configuration trusting `ca`, presenting `client` (a
/// certificate and key) when given.
pub fn client_config(
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    std::sync::Arc::new(config)
}
