//! HTTPS (issue 14, finding 9): `kwh-btc-iot serve --tls-cert --tls-key`
//! serves TLS, refuses clear text on that port, reloads the files on SIGHUP
//! and keeps the old certificate when the new files are broken.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

fn make_cert(dir: &Path, name: &str) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .ok()?
        .success();
    ok.then_some((cert, key))
}

/// GET /health over TLS trusting only `ca`; the status line and the
/// certificate the server presented.
fn https_health(addr: &str, ca: &Path) -> Result<(String, Vec<u8>), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .map_err(|e| e.to_string())?;
    let mut sock = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let presented = conn.peer_certificates().ok_or("no certificate")?[0].to_vec();
    let text = String::from_utf8_lossy(&out).to_string();
    Ok((text.lines().next().unwrap_or("").to_string(), presented))
}

fn der(pem: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem).unwrap().to_vec()
}

#[test]
fn serves_https_refuses_clear_text_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (Some((cert_a, key_a)), Some((cert_b, key_b))) =
        (make_cert(dir.path(), "a"), make_cert(dir.path(), "b"))
    else {
        panic!("openssl is needed to make the test certificates (Debian package openssl)");
    };
    let (cert, key) = (dir.path().join("served.crt"), dir.path().join("served.key"));
    std::fs::copy(&cert_a, &cert).unwrap();
    std::fs::copy(&key_a, &key).unwrap();
    let mut child = common::server_command()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--ots-calendars",
            "none",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the gateway");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit_once("https://")
        .map(|(_, a)| a.to_string())
        .unwrap_or_else(|| panic!("no https address in {line:?}"));
    let result = std::panic::catch_unwind(|| {
        let (status, presented) = https_health(&addr, &cert_a).expect("TLS with certificate a");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(presented, der(&cert_a));

        // Clear text on the TLS port gets no HTTP answer.
        let plain = common::http(&addr, "GET", "/health", None);
        assert!(
            plain.as_ref().is_none_or(|(s, _)| *s != 200),
            "clear text served: {plain:?}"
        );

        // New files, SIGHUP: new connections get certificate b.
        std::fs::copy(&cert_b, &cert).unwrap();
        std::fs::copy(&key_b, &key).unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        let mut got = None;
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            if let Ok((s, p)) = https_health(&addr, &cert_b) {
                got = Some((s, p));
                break;
            }
        }
        let (status, presented) = got.expect("certificate b served after SIGHUP");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(presented, der(&cert_b));

        // A broken file on reload: b stays.
        std::fs::write(&cert, "not a certificate").unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(500));
        let (status, presented) = https_health(&addr, &cert_b).expect("still b");
        assert_eq!(
            (status.as_str(), presented),
            ("HTTP/1.1 200 OK", der(&cert_b))
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_key_that_does_not_fit_the_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (Some((cert_a, _)), Some((_, key_b))) =
        (make_cert(dir.path(), "a"), make_cert(dir.path(), "b"))
    else {
        panic!("openssl is needed to make the test certificates (Debian package openssl)");
    };
    let e = kwh_btc_iot_gateway::tls::Tls::load(&cert_a, &key_b).unwrap_err();
    assert!(format!("{e:#}").contains("does not fit"), "{e:#}");
    let e = kwh_btc_iot_gateway::tls::Tls::load(&key_b, &key_b).unwrap_err();
    assert!(format!("{e:#}").contains("tls_cert"), "{e:#}");
    assert!(kwh_btc_iot_gateway::tls::Tls::load(&cert_a, &dir.path().join("a.key")).is_ok());
}
