//! Where phones can reach the daemon: one URL per non-loopback interface address.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};

/// URLs for the listener; a wildcard address expands to every non-loopback interface.
pub fn lan_urls(listen: SocketAddr, https: bool) -> Vec<String> {
    let scheme = if https { "https" } else { "http" };
    let ips: Vec<IpAddr> = if listen.ip().is_unspecified() {
        let want_v6 = listen.is_ipv6();
        if_addrs::get_if_addrs()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.ip())
            .filter(|ip| !ip.is_loopback())
            .filter(|ip| match ip {
                IpAddr::V4(_) => true,
                // Link-local v6 needs a zone id that browsers will not take in a URL.
                IpAddr::V6(v6) => want_v6 && (v6.segments()[0] & 0xffc0) != 0xfe80,
            })
            .collect()
    } else {
        vec![listen.ip()]
    };
    ips.into_iter()
        .map(|ip| format!("{scheme}://{}/", SocketAddr::new(ip, listen.port())))
        .collect()
}

/// `<scheme>://<hostname>.local:<port>/`, the name mDNS (avahi) announces, for a listener on
/// every interface; `None` when the host name is not a plain DNS label.
pub fn local_url(listen: SocketAddr, https: bool) -> Option<String> {
    if !listen.ip().is_unspecified() {
        return None;
    }
    let uname = rustix::system::uname();
    let host = uname
        .nodename()
        .to_str()
        .ok()?
        .split('.')
        .next()?
        .to_owned();
    let ok = !host.is_empty()
        && host.len() <= 63
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && host != "localhost";
    let scheme = if https { "https" } else { "http" };
    ok.then(|| format!("{scheme}://{host}.local:{}/", listen.port()))
}

/// Prints the URLs, the `.local` name, and a QR code of the first IP URL (many Android browsers
/// do not resolve `.local`) when stdout is a terminal a phone can scan.
pub fn print_banner(listen: SocketAddr, https: bool) {
    print!(
        "{}",
        banner(
            listen,
            &lan_urls(listen, https),
            local_url(listen, https).as_deref(),
            std::io::stdout().is_terminal()
        )
    );
}

fn banner(listen: SocketAddr, urls: &[String], local: Option<&str>, with_qr: bool) -> String {
    let Some(first) = urls.first() else {
        return format!(
            "peerbox is running on {listen}, but this machine has no network address yet.\n"
        );
    };
    let mut out =
        String::from("peerbox is running. Open one of these on a phone on the same network:\n");
    for url in urls {
        out.push_str(&format!("  {url}\n"));
    }
    if let Some(local) = local {
        out.push_str(&format!(
            "  {local}  (by name, where the network resolves .local)\n"
        ));
    }
    if with_qr {
        if let Ok(code) = qrcode::QrCode::new(first.as_bytes()) {
            let art = code
                .render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build();
            out.push_str(&art);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_address_gives_one_url() {
        let urls = lan_urls("10.1.2.3:8080".parse().unwrap(), false);
        assert_eq!(urls, vec!["http://10.1.2.3:8080/".to_string()]);
    }

    #[test]
    fn banner_has_a_qr_code_only_for_terminals() {
        let listen: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let urls = vec!["http://10.0.0.5:8080/".to_string()];
        let plain = banner(listen, &urls, None, false);
        assert!(plain.contains("  http://10.0.0.5:8080/\n"));
        assert!(!plain.contains('\u{2580}') && !plain.contains('\u{2588}'));
        let tty = banner(listen, &urls, None, true);
        assert!(tty.starts_with(&plain));
        assert!(tty.lines().count() > plain.lines().count() + 10, "{tty}");
        assert!(banner(listen, &[], None, true).contains("no network address yet"));
        // The .local name comes after the addresses; the QR code still encodes the first IP.
        let named = banner(listen, &urls, Some("http://pi.local:8080/"), true);
        let (before_qr, _) = named.split_once('\u{2580}').unwrap_or((&named, ""));
        assert!(
            before_qr.contains("http://10.0.0.5:8080/\n  http://pi.local:8080/"),
            "{named}"
        );
        let qr_of_ip = banner(listen, &urls, None, true);
        assert_eq!(named.lines().count(), qr_of_ip.lines().count() + 1);
        assert!(local_url("10.0.0.5:80".parse().unwrap(), false).is_none());
    }

    #[test]
    fn wildcard_never_lists_loopback() {
        for url in lan_urls("0.0.0.0:8080".parse().unwrap(), false) {
            assert!(!url.contains("127.0.0.1"), "{url}");
            assert!(url.ends_with(":8080/"), "{url}");
        }
    }
}
