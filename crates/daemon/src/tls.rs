//! TLS for the TCP listeners: the server's certificate, and with
//! `--tlsverify` the CA whose signature a client's certificate must carry
//! (docker's mutual TLS, so `docker --tlsverify -H tcp://…` works as with
//! dockerd).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::server::WebPkiClientVerifier;

use crate::Error;
use crate::config::Tls;

/// Builds the acceptor from the PEM files; each bad file is named.
pub fn acceptor(tls: &Tls) -> Result<TlsAcceptor, Error> {
    let certs = certificates(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad(&tls.key, "--tlskey", e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let builder = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certificates(ca)? {
                roots.add(c).map_err(|e| bad(ca, "--tlscacert", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(ca, "--tlscacert", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| bad(&tls.cert, "--tlscert", e))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Every certificate in a PEM file; none at all is an error.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let flag = "certificate file";
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, flag, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(path, flag, e))?;
    if certs.is_empty() {
        return Err(bad(path, flag, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn bad(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{what} {}: {e}", path.display()))
}
