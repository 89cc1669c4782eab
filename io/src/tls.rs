//! TLS for a shard's connections: rustls configs (ring provider) built from PEM material, and
//! the stream type that carries a connection with or without TLS.
//!
//! Every shard builds its own configs from the same files, so sessions and their caches stay
//! on the core that uses them: rustls' session cache takes a mutex that only its own shard
//! ever touches. The handshake runs over the shard's own socket adapter ([`TcpIo`]), so TLS
//! reads keep the single-`recv` path of plaintext ones.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stream::TcpIo;

/// ALPN id of HTTP/2, which gRPC requires.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN id of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Where a PEM block comes from: otelcol's `*_file` or `*_pem` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pem {
    /// A file, read when a config is built (so a rotated file is picked up by a rebuild).
    File(PathBuf),
    /// The PEM text itself.
    Inline(String),
}

impl Pem {
    fn read(&self, part: Part) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::File(path) => std::fs::read(path).map_err(|source| TlsError::Read {
                part,
                path: path.display().to_string(),
                source,
            }),
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}

/// Which piece of TLS material an error is about, so the config can name its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `cert_file` / `cert_pem`.
    Cert,
    /// `key_file` / `key_pem`.
    Key,
    /// `ca_file` / `ca_pem`.
    Ca,
    /// `client_ca_file`.
    ClientCa,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Cert => "certificate",
            Part::Key => "private key",
            Part::Ca => "CA certificates",
            Part::ClientCa => "client CA certificates",
        })
    }
}

/// A TLS protocol version rustls offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// Settings shared by servers and clients: versions and TLS 1.2 cipher suites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// Lowest version offered (otelcol's default: 1.2).
    pub min_version: TlsVersion,
    /// Highest version offered (default: the newest).
    pub max_version: TlsVersion,
    /// TLS 1.2 suites by their IANA/Go names; empty = rustls' defaults. As in Go, TLS 1.3
    /// suites are always all offered.
    pub cipher_suites: Vec<String>,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
        }
    }
}

/// What a TLS server is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// Certificate chain, leaf first.
    pub cert: Pem,
    /// Its private key.
    pub key: Pem,
    /// When set, clients must present a certificate signed by one of these (mTLS).
    pub client_ca: Option<Pem>,
    /// Versions and suites.
    pub protocol: Protocol,
    /// ALPN protocols offered, most preferred first.
    pub alpn: Vec<Vec<u8>>,
}

/// What a TLS client is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// CA certificates to trust; `None` trusts the system's roots.
    pub ca: Option<Pem>,
    /// Trust the system's roots too when `ca` is set (`include_system_ca_certs_pool`).
    pub include_system_roots: bool,
    /// A client certificate and key to present (mTLS).
    pub identity: Option<(Pem, Pem)>,
    /// Accept any server certificate (`insecure_skip_verify`): the connection is encrypted
    /// but the peer is not authenticated.
    pub skip_verify: bool,
    /// Versions and suites.
    pub protocol: Protocol,
    /// ALPN protocols offered, most preferred first.
    pub alpn: Vec<Vec<u8>>,
}

/// Why TLS material or settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {part} file \"{path}\": {source}")]
    Read {
        /// What the file holds.
        part: Part,
        /// The file.
        path: String,
        /// The system's reason.
        source: io::Error,
    },
    /// The PEM text holds no block of the expected kind, or a malformed one.
    #[error("no valid PEM {part} found: {reason}")]
    Pem {
        /// What was expected.
        part: Part,
        /// What the parser said.
        reason: String,
    },
    /// The private key is not the certificate's.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// min_version is above max_version.
    #[error("min_version {min:?} is above max_version {max:?}")]
    Versions {
        /// The lowest version asked for.
        min: TlsVersion,
        /// The highest version asked for.
        max: TlsVersion,
    },
    /// A cipher suite this build does not offer.
    #[error("cipher suite \"{0}\" is not supported; supported: {1}")]
    CipherSuite(String, String),
    /// None of the system's CA certificates could be loaded.
    #[error("no system CA certificates could be loaded: {0}")]
    SystemRoots(String),
    /// rustls refused the configuration.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider with `protocol`'s TLS 1.2 suites.
fn provider(protocol: &Protocol) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut provider = ring::default_provider();
    // ring lists AES-256-GCM first; Go (and so otelcol and most OTLP clients) prefers
    // AES-128-GCM, which is as safe for this use and does 10 AES rounds instead of 14: the
    // cipher is most of what TLS adds per byte (scripts/bench.sh --tls, RESULTS.md).
    provider.cipher_suites.sort_by_key(|suite| {
        let version = u8::from(suite.version() != &rustls::version::TLS13);
        let name = format!("{:?}", suite.suite());
        let cipher = if name.contains("AES_128_GCM") {
            0
        } else if name.contains("AES_256_GCM") {
            1
        } else {
            2
        };
        (version, cipher)
    });
    if !protocol.cipher_suites.is_empty() {
        let all = provider.cipher_suites.clone();
        let mut chosen = Vec::new();
        for name in &protocol.cipher_suites {
            let Some(suite) = all.iter().find(|s| suite_name(s) == normalize(name)) else {
                let known: Vec<String> = all.iter().map(suite_name).collect();
                return Err(TlsError::CipherSuite(name.clone(), known.join(", ")));
            };
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        }
        // TLS 1.3 suites are not configurable in Go's TLS either: all of them stay.
        for suite in all
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
        {
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

/// A suite's Go/IANA name (rustls spells TLS 1.3 suites `TLS13_…`).
fn suite_name(suite: &rustls::SupportedCipherSuite) -> String {
    format!("{:?}", suite.suite()).replace("TLS13_", "TLS_")
}

/// Go accepts `…_CHACHA20_POLY1305` for the `…_CHACHA20_POLY1305_SHA256` suites.
fn normalize(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper.starts_with("TLS_ECDHE_") && upper.ends_with("_CHACHA20_POLY1305") {
        format!("{upper}_SHA256")
    } else {
        upper
    }
}

fn versions(
    protocol: &Protocol,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
    if protocol.min_version > protocol.max_version {
        return Err(TlsError::Versions {
            min: protocol.min_version,
            max: protocol.max_version,
        });
    }
    let mut out = Vec::new();
    if protocol.min_version <= TlsVersion::Tls13 && protocol.max_version >= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    if protocol.min_version <= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    Ok(out)
}

fn certs(pem: &Pem, part: Part) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = pem.read(part)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            part,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            part,
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn key(pem: &Pem) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = pem.read(Part::Key)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        part: Part::Key,
        reason: e.to_string(),
    })
}

fn roots(pem: &Pem, part: Part, store: &mut RootCertStore) -> Result<(), TlsError> {
    for cert in certs(pem, part)? {
        store.add(cert).map_err(|e| TlsError::Pem {
            part,
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

fn system_roots(store: &mut RootCertStore) -> Result<(), TlsError> {
    // Read and parsed once per process, as Go's SystemCertPool is: every shard builds its own
    // client configs, and reading the system bundle (some 150 files) each time made start-up
    // and `validate` cost grow with cores times exporters.
    static SYSTEM: std::sync::OnceLock<Result<RootCertStore, String>> = std::sync::OnceLock::new();
    let system = SYSTEM.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let reasons: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(if reasons.is_empty() {
                "none found".into()
            } else {
                reasons.join("; ")
            });
        }
        Ok(roots)
    });
    match system {
        Ok(roots) => {
            store.roots.extend(roots.roots.iter().cloned());
            Ok(())
        }
        Err(reason) => Err(TlsError::SystemRoots(reason.clone())),
    }
}

fn key_mismatch(error: rustls::Error) -> TlsError {
    match error {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
        other => TlsError::Rustls(other),
    }
}

/// Builds a server config from `spec`, reading its files now.
pub fn server_config(spec: &ServerSpec) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider(&spec.protocol)?;
    let chain = certs(&spec.cert, Part::Cert)?;
    let key = key(&spec.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(&spec.protocol)?)?;
    let builder = match &spec.client_ca {
        Some(ca) => {
            let mut store = RootCertStore::empty();
            roots(ca, Part::ClientCa, &mut store)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|e| TlsError::Pem {
                    part: Part::ClientCa,
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(key_mismatch)?;
    // The server's order decides (as Go's servers do), so a client that lists AES-256 first
    // (rustls' default) still gets the cheaper suite.
    config.ignore_client_order = true;
    config.alpn_protocols = spec.alpn.clone();
    Ok(Arc::new(config))
}

/// Builds a client config from `spec`, reading its files now.
pub fn client_config(spec: &ClientSpec) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider(&spec.protocol)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(&spec.protocol)?)?;
    let builder = if spec.skip_verify {
        let verifier = AnyServer(provider.signature_verification_algorithms);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        let mut store = RootCertStore::empty();
        match &spec.ca {
            Some(ca) => {
                roots(ca, Part::Ca, &mut store)?;
                if spec.include_system_roots {
                    system_roots(&mut store)?;
                }
            }
            None => system_roots(&mut store)?,
        }
        builder.with_root_certificates(store)
    };
    let mut config = match &spec.identity {
        Some((cert, key_pem)) => builder
            .with_client_auth_cert(certs(cert, Part::Cert)?, key(key_pem)?)
            .map_err(key_mismatch)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = spec.alpn.clone();
    Ok(Arc::new(config))
}

/// The name a client checks the server's certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|e| {
        TlsError::Rustls(rustls::Error::General(format!(
            "\"{host}\" is not a valid server name: {e}"
        )))
    })
}

/// `insecure_skip_verify`: accepts any certificate, still checking the handshake signatures
/// so the session keys are the peer's.
#[derive(Debug)]
struct AnyServer(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A connection's byte stream: plaintext, or TLS as a server or a client.
pub enum Conn {
    /// Plaintext.
    Plain(TcpIo),
    /// TLS, accepted.
    Server(Box<tokio_rustls::server::TlsStream<TcpIo>>),
    /// TLS, connected.
    Client(Box<tokio_rustls::client::TlsStream<TcpIo>>),
}

impl From<glommio::net::TcpStream> for Conn {
    fn from(stream: glommio::net::TcpStream) -> Conn {
        Conn::Plain(TcpIo::new(stream))
    }
}

impl Conn {
    /// The ALPN protocol agreed on, if TLS negotiated one.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Conn::Plain(_) => None,
            Conn::Server(tls) => tls.get_ref().1.alpn_protocol(),
            Conn::Client(tls) => tls.get_ref().1.alpn_protocol(),
        }
    }

    /// Stops sending (TLS: close_notify first) but keeps reading, for a lingering close.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(io) => io.shutdown_write().await,
            Conn::Server(tls) => {
                tls.get_mut().1.send_close_notify();
                tokio::io::AsyncWriteExt::flush(tls.as_mut()).await?;
                tls.get_mut().0.shutdown_write().await
            }
            Conn::Client(tls) => {
                tls.get_mut().1.send_close_notify();
                tokio::io::AsyncWriteExt::flush(tls.as_mut()).await?;
                tls.get_mut().0.shutdown_write().await
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Conn::Server(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Conn::Client(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Conn::Server(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Conn::Client(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Conn::Server(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
            Conn::Client(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(io) => io.is_write_vectored(),
            Conn::Server(tls) => tls.is_write_vectored(),
            Conn::Client(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_flush(cx),
            Conn::Server(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Conn::Client(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Conn::Server(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Conn::Client(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Runs the server side of a handshake on `io` within `timeout`.
pub async fn accept(
    config: Arc<ServerConfig>,
    io: TcpIo,
    timeout: std::time::Duration,
) -> Result<Conn, crate::IoError> {
    let handshake = tokio_rustls::TlsAcceptor::from(config).accept(io);
    match crate::timer::timeout(timeout, handshake).await {
        Some(Ok(tls)) => Ok(Conn::Server(Box::new(tls))),
        Some(Err(e)) => Err(crate::IoError::Tls(e.to_string())),
        None => Err(crate::IoError::Timeout(timeout)),
    }
}

/// TLS for an outgoing connection: the config and the name the server must prove.
#[derive(Clone)]
pub struct ClientTls {
    /// The rustls config (its ALPN fits the protocol: `h2` for gRPC).
    pub config: Arc<ClientConfig>,
    /// The name checked against the server's certificate (and sent as SNI).
    pub name: ServerName<'static>,
}

/// Runs the client side of a handshake on `io` (the caller bounds the time).
pub async fn connect(tls: &ClientTls, io: TcpIo) -> Result<Conn, crate::IoError> {
    let tls = tokio_rustls::TlsConnector::from(tls.config.clone())
        .connect(tls.name.clone(), io)
        .await
        .map_err(|e| crate::IoError::Tls(e.to_string()))?;
    Ok(Conn::Client(Box::new(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_is_preferred_in_each_version_unless_suites_are_named() {
        let Ok(chosen) = provider(&Protocol::default()) else {
            panic!("default provider");
        };
        let names: Vec<String> = chosen.cipher_suites.iter().map(suite_name).collect();
        assert_eq!(names[0], "TLS_AES_128_GCM_SHA256", "{names:?}");
        let first_12 = names.iter().find(|n| n.starts_with("TLS_ECDHE"));
        assert!(
            first_12.is_some_and(|n| n.contains("AES_128_GCM")),
            "{names:?}"
        );
        // A named TLS 1.2 list keeps the user's order.
        let named = Protocol {
            cipher_suites: vec![
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
            ],
            ..Protocol::default()
        };
        let Ok(chosen) = provider(&named) else {
            panic!("named suites");
        };
        let names: Vec<String> = chosen.cipher_suites.iter().map(suite_name).collect();
        assert_eq!(
            names[0], "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "{names:?}"
        );
    }
}
