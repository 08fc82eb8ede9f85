//! The Redis client's configuration from the options (DESIGN §6): the URL (`redis://`,
//! `rediss://` for TLS, `redis-cluster://…`, with an ACL user and password in it if wanted),
//! the password from a file (`REDIS_PASSWORD_FILE`, a mounted secret) instead of the URL, and
//! for TLS a private CA (`REDIS_TLS_CA_FILE`) and a client certificate
//! (`REDIS_TLS_CERT_FILE` + `REDIS_TLS_KEY_FILE`). Nothing here ever prints the password.

use super::BrokerError;
use crate::options::BrokerOptions;
use fred::types::config::Config;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::{path::Path, sync::Arc};

/// The client configuration `opts` describe.
pub fn from_options(opts: &BrokerOptions) -> Result<Config, BrokerError> {
    let mut config =
        Config::from_url(&opts.redis_url).map_err(|e| BrokerError::Url(e.details().into()))?;
    if let Some(path) = &opts.redis_password_file {
        config.password = Some(secret(path)?);
    }
    let custom_tls = opts.redis_tls_ca_file.is_some() || opts.redis_tls_cert_file.is_some();
    if custom_tls {
        if config.tls.is_none() {
            return Err(BrokerError::Tls(
                "REDIS_TLS_CA_FILE and REDIS_TLS_CERT_FILE need a rediss:// URL".into(),
            ));
        }
        config.tls = Some(tls(opts)?.into());
    }
    Ok(config)
}

/// A password file's content without its trailing newline.
fn secret(path: &Path) -> Result<String, BrokerError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BrokerError::Url(format!(
            "cannot read REDIS_PASSWORD_FILE {}: {e}",
            path.display()
        ))
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// A rustls client trusting the CA file (else the system's roots) and presenting the client
/// certificate when one is configured.
fn tls(opts: &BrokerOptions) -> Result<rustls::ClientConfig, BrokerError> {
    let fail = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        BrokerError::Tls(format!("{what} {}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    match &opts.redis_tls_ca_file {
        Some(path) => {
            for cert in
                CertificateDer::pem_file_iter(path).map_err(|e| fail("CA file", path, &e))?
            {
                let cert = cert.map_err(|e| fail("CA file", path, &e))?;
                roots.add(cert).map_err(|e| fail("CA file", path, &e))?;
            }
        }
        None => {
            let system = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(system.certs);
        }
    }
    // ring, as fred's `enable-rustls-ring` build uses (aws-lc would add a large C build).
    // rustls deprecated it for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BrokerError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&opts.redis_tls_cert_file, &opts.redis_tls_key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| fail("client certificate", cert, &e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail("client key", key, &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| BrokerError::Tls(e.to_string()))
        }
        _ => Err(BrokerError::Tls(
            "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: &str) -> BrokerOptions {
        BrokerOptions {
            redis_url: url.into(),
            ..BrokerOptions::default()
        }
    }

    #[test]
    fn the_password_file_wins_over_the_url_and_loses_its_newline() {
        let dir = std::env::temp_dir().join(format!("redis-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let mut o = opts("redis://gateway:in-url@127.0.0.1:6379");
        o.redis_password_file = Some(dir.clone());
        let config = from_options(&o).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(config.username.as_deref(), Some("gateway"));
        assert_eq!(config.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn tls_files_need_a_tls_url_and_errors_do_not_show_the_password() {
        let mut o = opts("redis://user:hunter2@127.0.0.1:6379");
        o.redis_tls_ca_file = Some("/nonexistent/ca.pem".into());
        let error = from_options(&o).unwrap_err().to_string();
        assert!(error.contains("rediss://"), "{error}");
        let error = from_options(&opts("redis://user:hunter2@[bad"))
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
