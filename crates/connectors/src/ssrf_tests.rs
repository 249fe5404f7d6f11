use super::*;

fn strict() -> SsrfPolicy {
    SsrfPolicy::default()
}

fn lax() -> SsrfPolicy {
    SsrfPolicy::default().with_http(true)
}

#[test]
fn hostile_urls_are_refused() {
    let hostile = [
        "http://127.0.0.1",
        "http://127.0.0.1:7048/BC",
        "http://127.1",
        "http://0x7f.1",
        "http://0x7f000001",
        "http://2130706433",
        "http://017700000001",
        "http://0177.0.0.1",
        "http://0",
        "http://0.0.0.0",
        "http://[::1]",
        "http://[::]",
        "http://[0:0:0:0:0:0:0:1]",
        "http://[::ffff:127.0.0.1]",
        "http://[::ffff:7f00:1]",
        "http://[::ffff:169.254.169.254]",
        "http://[::127.0.0.1]",
        "http://[64:ff9b::a9fe:a9fe]",
        "http://[2002:7f00:1::]",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]",
        "http://[fd00:ec2::254]",
        "http://[fc00::1]",
        "http://168.63.129.16",
        "http://100.100.100.200",
        "http://100.64.0.1",
        "http://10.0.0.1",
        "http://172.16.0.1",
        "http://172.31.255.255",
        "http://192.168.1.1",
        "http://224.0.0.1",
        "http://[ff02::1]",
        "http://255.255.255.255",
        "http://localhost",
        "http://LOCALHOST.",
        "http://bc.localhost",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://user:pw@bc.example.com",
        "http://user@bc.example.com",
        "https://:pw@bc.example.com",
        "file:///etc/passwd",
        "ftp://bc.example.com",
        "gopher://bc.example.com",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "//bc.example.com/BC",
        "/BC/api/v2.0",
        "bc.example.com",
        "",
        "http://",
    ];
    for url in hostile {
        assert!(lax().check_url(url).is_err(), "{url} was accepted");
    }
}

#[test]
fn refusals_say_why() {
    let err = lax().check_url("http://0x7f.1").unwrap_err();
    assert_eq!(
        err,
        SsrfError::Address {
            host: "127.0.0.1".into(),
            addr: "127.0.0.1".parse().unwrap(),
            range: "loopback"
        }
    );
    assert_eq!(
        lax().check_url("http://u:p@example.com").unwrap_err(),
        SsrfError::UserInfo
    );
    assert!(matches!(
        lax().check_url("file:///x"),
        Err(SsrfError::Scheme(_))
    ));
    let mapped = lax().check_url("http://[::ffff:10.1.2.3]").unwrap_err();
    assert!(mapped.to_string().contains("private"), "{mapped}");
}

#[test]
fn http_needs_opt_in() {
    assert!(matches!(
        strict().check_url("http://bc.example.com"),
        Err(SsrfError::Scheme(_))
    ));
    assert!(strict().check_url("https://bc.example.com:7048/BC").is_ok());
    assert!(lax().check_url("http://bc.example.com:7048/BC").is_ok());
}

#[test]
fn public_addresses_pass() {
    for url in [
        "https://93.184.216.34",
        "https://[2606:4700:4700::1111]",
        "https://8.8.8.8:7048/BC",
        "https://bc.contoso.com/BC",
        "https://172.32.0.1",
        "https://100.128.0.1",
    ] {
        assert!(strict().check_url(url).is_ok(), "{url} was refused");
    }
}

#[test]
fn allow_list_by_address_network_and_host() {
    let policy = lax()
        .allow("127.0.0.1")
        .allow("10.20.0.0/16")
        .allow("bc.lan.");
    assert!(policy.check_url("http://127.0.0.1:8080/BC").is_ok());
    assert!(policy.check_url("http://[::ffff:127.0.0.1]:8080").is_ok());
    assert!(policy.check_url("http://10.20.3.4").is_ok());
    assert!(policy.check_url("http://10.21.3.4").is_err());
    assert!(policy.check_url("http://127.0.0.2").is_err());
    assert!(policy.check_url("http://BC.LAN/BC").is_ok());
    assert!(policy.check_url("http://user:pw@127.0.0.1").is_err());
    let v6 = lax().allow("[::1]");
    assert!(v6.check_url("http://[::1]:7048").is_ok());
}

#[test]
fn refused_ranges_cover_ipv6_embeddings() {
    let range = |s: &str| refused_range(s.parse().unwrap());
    assert_eq!(range("::ffff:192.168.0.1"), Some("private"));
    assert_eq!(range("64:ff9b::7f00:1"), Some("loopback"));
    assert_eq!(range("2002:a9fe:a9fe::1"), Some("link-local"));
    assert_eq!(range("2001:0:4136:e378::1"), Some("Teredo"));
    assert_eq!(range("2606:4700::1111"), None);
    assert_eq!(range("64:ff9b::808:808"), None);
}

#[tokio::test]
async fn resolution_is_checked_too() {
    // `localhost` resolves through /etc/hosts without network access.
    let refused = lax().allow("localhost").allow("127.0.0.0/8");
    assert!(refused.check("http://localhost:1").await.is_ok());
    let name_only = SsrfPolicy {
        allow_http: true,
        ..Default::default()
    };
    let err = name_only.resolve("localhost").await.unwrap_err();
    assert!(matches!(err, ResolveError::Refused(_)), "{err:?}");
    let unknown = lax()
        .check("http://does-not-exist.invalid")
        .await
        .unwrap_err();
    assert!(
        matches!(
            unknown,
            ConnectorError::Unreachable { .. } | ConnectorError::Blocked(_)
        ),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn resolver_refuses_names_that_resolve_to_refused_addresses() {
    // A name not refused by spelling, allow-listed neither by name nor by address, that resolves to
    // loopback: `ip6-localhost`/`localhost.localdomain` exist in many /etc/hosts; fall back to checking
    // the address path directly when neither does.
    let policy = lax();
    for name in [
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "vm",
        "runsc",
    ] {
        let resolves = match tokio::net::lookup_host((name, 0)).await {
            Ok(mut addrs) => addrs.next().is_some(),
            Err(_) => false,
        };
        if resolves {
            let err = policy.resolve(name).await.unwrap_err();
            assert!(
                matches!(err, ResolveError::Refused(SsrfError::Address { .. })),
                "{err:?}"
            );
            return;
        }
    }
    assert!(policy.check_ip("x", "127.0.0.1".parse().unwrap()).is_err());
}

#[test]
fn allow_list_entries_are_validated() {
    for good in [
        "10.0.0.0/8",
        "127.0.0.1",
        "[::1]",
        "fd00::/8",
        "bc.lan",
        "BC-01.Contoso.com.",
    ] {
        assert!(SsrfPolicy::default().try_allow(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "10.0.0.0/33",
        "300.1.1.1",
        "http://bc.lan",
        "bc lan",
        "a..b",
        "*.lan",
    ] {
        assert!(SsrfPolicy::default().try_allow(bad).is_err(), "{bad}");
    }
    let lenient = SsrfPolicy::default().allow("10.0.0.0/33");
    assert!(lenient.allowed_hosts.is_empty() && lenient.allowed_networks.is_empty());
}
