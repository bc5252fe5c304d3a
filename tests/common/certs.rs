//! Test certificates, made with rcgen once per test process into a
//! temporary directory (no private key is committed): a CA with a server
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

/// The process's certificates (made on first use).
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(make)
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
) -> (PathBuf, PathBuf) {
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
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn make() -> Certs {
    let dir = std::env::temp_dir().join(format!("ferrokv-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write_ca = |file: &str, name: &str| {
        let (params, key) = ca(name);
        let cert = params.self_signed(&key).unwrap();
        let path = dir.join(file);
        std::fs::write(&path, cert.pem()).unwrap();
        (path, Issuer::new(params, key))
    };
    let (ca, issuer) = write_ca("ca.crt", "ferrokv test CA");
    let (other_ca, other_issuer) = write_ca("other-ca.crt", "ferrokv other CA");
    let (server_cert, server_key) = leaf(&dir, "server", "ferrokv", false, &issuer, false);
    let (server2_cert, server2_key) =
        leaf(&dir, "server2", "ferrokv second", false, &issuer, false);
    let (expired_cert, expired_key) = leaf(&dir, "expired", "ferrokv", false, &issuer, true);
    let (client_cert, client_key) = leaf(&dir, "client", "client", true, &issuer, false);
    let (other_client_cert, other_client_key) =
        leaf(&dir, "other-client", "intruder", true, &other_issuer, false);
    Certs {
        dir,
        ca,
        server_cert,
        server_key,
        server2_cert,
        server2_key,
        expired_cert,
        expired_key,
        client_cert,
        client_key,
        other_ca,
        other_client_cert,
        other_client_key,
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
