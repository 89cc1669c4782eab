//! Settings every server of the config shares: how a listen `endpoint` is read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use super::de::Text;
use super::error::Errors;

/// The address of `raw` (or of `default` when unset); an unusable one is reported at `path`.
pub(crate) fn listen_addr(
    raw: Option<Text>,
    default: &str,
    path: &str,
    errs: &mut Errors,
) -> SocketAddr {
    let text = raw.map_or_else(|| default.to_owned(), |Text(t)| t);
    resolve_listen(&text).unwrap_or_else(|reason| {
        errs.invalid(path, reason);
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    })
}

/// Resolves a server endpoint as otelcol accepts it: `host:port`, `[v6]:port`, `:port` (all
/// IPv4 interfaces), `localhost:port` (127.0.0.1); other host names go through the resolver.
pub fn resolve_listen(endpoint: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = endpoint.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(|| {
        format!("endpoint \"{endpoint}\" has no port; expected host:port, e.g. \"0.0.0.0:4317\"")
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("endpoint \"{endpoint}\" has an invalid port \"{port}\""))?;
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => {
            let addr = (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve endpoint host \"{host}\": {e}"))?
                .next()
                .ok_or_else(|| format!("endpoint host \"{host}\" resolves to no address"))?;
            addr.ip()
        }
    };
    Ok(SocketAddr::new(ip, port))
}
