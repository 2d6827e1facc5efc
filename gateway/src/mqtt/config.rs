//! Options of the MQTT bridge: `--mqtt-*` on the command line,
//! `KWH_BTC_IOT_MQTT_*` in the environment, the `[mqtt]` table of the TOML
//! file. The bridge runs only when a broker URL is given.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::config::arg_or_file;

/// The `--mqtt-*` options of `kwh-btc-iot serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MqttArgs {
    /// MQTT broker to bridge: mqtt://HOST[:1883] or mqtts://HOST[:8883] (TLS).
    /// The gateway subscribes to PREFIX/+/+/+ at QoS 1 with a persistent session.
    #[arg(long, env = "KWH_BTC_IOT_MQTT_URL", value_name = "URL")]
    pub mqtt_url: Option<String>,
    /// Broker user name.
    #[arg(long, env = "KWH_BTC_IOT_MQTT_USERNAME", value_name = "NAME")]
    pub mqtt_username: Option<String>,
    /// Broker password (prefer the environment or the file to the command line).
    #[arg(
        long,
        env = "KWH_BTC_IOT_MQTT_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub mqtt_password: Option<String>,
    /// First topic level(s) of readings; acknowledgements go to PREFIX-ack/... [default: energy].
    #[arg(long, env = "KWH_BTC_IOT_MQTT_TOPIC_PREFIX", value_name = "PREFIX")]
    pub mqtt_topic_prefix: Option<String>,
    /// MQTT client id; it names the broker's persistent session, so keep it
    /// fixed across restarts [default: "kwh-btc-iot-" + gateway id].
    #[arg(long, env = "KWH_BTC_IOT_MQTT_CLIENT_ID", value_name = "ID")]
    pub mqtt_client_id: Option<String>,
    /// PEM file of the CA certificates that sign the broker's certificate
    /// (mqtts:// only) [default: the system's trusted roots].
    #[arg(long, env = "KWH_BTC_IOT_MQTT_CA_FILE", value_name = "FILE")]
    pub mqtt_ca_file: Option<PathBuf>,
    /// PEM certificate (chain) for TLS client authentication (with --mqtt-client-key).
    #[arg(long, env = "KWH_BTC_IOT_MQTT_CLIENT_CERT", value_name = "FILE")]
    pub mqtt_client_cert: Option<PathBuf>,
    /// PEM private key for TLS client authentication.
    #[arg(long, env = "KWH_BTC_IOT_MQTT_CLIENT_KEY", value_name = "FILE")]
    pub mqtt_client_key: Option<PathBuf>,
    /// QoS of the acknowledgements the gateway publishes (0 or 1) [default: 1].
    #[arg(long, env = "KWH_BTC_IOT_MQTT_ACK_QOS", value_name = "QOS")]
    pub mqtt_ack_qos: Option<u8>,
    /// Keep-alive interval in seconds [default: 30].
    #[arg(long, env = "KWH_BTC_IOT_MQTT_KEEP_ALIVE_S", value_name = "SECONDS")]
    pub mqtt_keep_alive_s: Option<u64>,
}

/// The `[mqtt]` table of the TOML file (the option names without `mqtt-`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttFileConfig {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    topic_prefix: Option<String>,
    client_id: Option<String>,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    ack_qos: Option<u8>,
    keep_alive_s: Option<u64>,
}

/// The resolved bridge configuration.
#[derive(Clone)]
pub struct MqttConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS (mqtts://).
    pub tls: bool,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Topic prefix (`energy`).
    pub topic_prefix: String,
    /// Client id; `None`: derived from the gateway id at start.
    pub client_id: Option<String>,
    /// CA file (PEM).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM).
    pub client_key: Option<PathBuf>,
    /// QoS of acknowledgements.
    pub ack_qos: rumqttc::QoS,
    /// Keep-alive.
    pub keep_alive: Duration,
}

impl std::fmt::Debug for MqttConfig {
    // Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.url())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("topic_prefix", &self.topic_prefix)
            .field("client_id", &self.client_id)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("ack_qos", &self.ack_qos)
            .finish()
    }
}

impl MqttConfig {
    /// A plain-TCP configuration for `host:port` with the defaults.
    pub fn new(host: impl Into<String>, port: u16) -> MqttConfig {
        MqttConfig {
            host: host.into(),
            port,
            tls: false,
            username: None,
            password: None,
            topic_prefix: "energy".into(),
            client_id: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            ack_qos: rumqttc::QoS::AtLeastOnce,
            keep_alive: Duration::from_secs(30),
        }
    }

    /// Parses `mqtt://HOST[:PORT]` (also `tcp://`) or `mqtts://HOST[:PORT]` (also `ssl://`).
    ///
    /// ```
    /// use kwh_btc_iot_gateway::mqtt::MqttConfig;
    /// let c = MqttConfig::from_url("mqtts://broker.example:8884").unwrap();
    /// assert_eq!((c.host.as_str(), c.port, c.tls), ("broker.example", 8884, true));
    /// assert_eq!(MqttConfig::from_url("mqtt://127.0.0.1").unwrap().port, 1883);
    /// assert!(MqttConfig::from_url("http://x").is_err());
    /// ```
    pub fn from_url(url: &str) -> anyhow::Result<MqttConfig> {
        let (scheme, rest) = url.split_once("://").with_context(|| {
            format!("mqtt_url {url:?}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        })?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => bail!("mqtt_url: scheme {other:?} is not supported; use mqtt:// or mqtts://"),
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains('@') {
            bail!("mqtt_url: put the user name and password in --mqtt-username / --mqtt-password (or the environment), not in the URL");
        }
        if authority.contains('/') || authority.contains('?') {
            bail!("mqtt_url {url:?}: only mqtt://HOST[:PORT] is accepted (no path or query)");
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .with_context(|| format!("mqtt_url {url:?}: unterminated [IPv6] host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .with_context(|| format!("mqtt_url {url:?}: port must be 1..65535"))?,
                None if after.is_empty() => default_port,
                None => bail!("mqtt_url {url:?}: unexpected text after the host"),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .with_context(|| format!("mqtt_url {url:?}: port must be 1..65535"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            bail!("mqtt_url {url:?}: a host and a port 1..65535 are required");
        }
        let mut c = MqttConfig::new(host, port);
        c.tls = tls;
        Ok(c)
    }

    /// The broker URL (without credentials), for logs.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    /// The acknowledgement prefix: `<prefix>-ack`.
    pub fn ack_prefix(&self) -> String {
        format!("{}-ack", self.topic_prefix)
    }

    /// The subscription: `<prefix>/+/+/+`.
    pub fn subscription(&self) -> String {
        format!("{}/+/+/+", self.topic_prefix)
    }

    /// Resolves the options (command line / environment, then the file);
    /// `None` when no broker URL is configured.
    pub fn resolve(args: &MqttArgs, file: &MqttFileConfig) -> anyhow::Result<Option<MqttConfig>> {
        let Some(url) = arg_or_file(&args.mqtt_url, &file.url) else {
            return Ok(None);
        };
        let mut c = MqttConfig::from_url(&url)?;
        c.username = arg_or_file(&args.mqtt_username, &file.username);
        c.password = arg_or_file(&args.mqtt_password, &file.password);
        if c.password.is_some() && c.username.is_none() {
            bail!("mqtt_password is set but mqtt_username is not");
        }
        if let Some(p) = arg_or_file(&args.mqtt_topic_prefix, &file.topic_prefix) {
            c.topic_prefix = p;
        }
        check_prefix(&c.topic_prefix)?;
        c.client_id = arg_or_file(&args.mqtt_client_id, &file.client_id);
        if let Some(id) = &c.client_id {
            if id.is_empty() || id.len() > 65_535 {
                bail!("mqtt_client_id must not be empty");
            }
        }
        c.ca_file = arg_or_file(&args.mqtt_ca_file, &file.ca_file);
        c.client_cert = arg_or_file(&args.mqtt_client_cert, &file.client_cert);
        c.client_key = arg_or_file(&args.mqtt_client_key, &file.client_key);
        if c.client_cert.is_some() != c.client_key.is_some() {
            bail!("mqtt_client_cert and mqtt_client_key go together");
        }
        if !c.tls && (c.ca_file.is_some() || c.client_cert.is_some()) {
            bail!("mqtt_ca_file / mqtt_client_cert need a TLS broker URL (mqtts://HOST:PORT)");
        }
        c.ack_qos = match arg_or_file(&args.mqtt_ack_qos, &file.ack_qos).unwrap_or(1) {
            0 => rumqttc::QoS::AtMostOnce,
            1 => rumqttc::QoS::AtLeastOnce,
            q => bail!("mqtt_ack_qos must be 0 or 1, got {q}"),
        };
        let ka = arg_or_file(&args.mqtt_keep_alive_s, &file.keep_alive_s).unwrap_or(30);
        if !(5..=65_535).contains(&ka) {
            bail!("mqtt_keep_alive_s must be within 5..=65535");
        }
        c.keep_alive = Duration::from_secs(ka);
        if c.tls {
            // Fail at start, not at the first connection, when a file is wrong.
            c.rustls()?;
        }
        Ok(Some(c))
    }

    /// The rustls client configuration (ring provider): the CA file or the
    /// system roots, and the client certificate when given.
    pub fn rustls(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in CertificateDer::pem_file_iter(path)
                    .with_context(|| format!("mqtt_ca_file {}", path.display()))?
                {
                    let cert = cert.with_context(|| {
                        format!("mqtt_ca_file {}: not a PEM certificate", path.display())
                    })?;
                    roots
                        .add(cert)
                        .with_context(|| format!("mqtt_ca_file {}", path.display()))?;
                }
                if roots.is_empty() {
                    bail!("mqtt_ca_file {}: no certificate found", path.display());
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    bail!("mqtts: no system CA certificates found; pass --mqtt-ca-file");
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots);
        let config = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .with_context(|| format!("mqtt_client_cert {}", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| {
                        format!("mqtt_client_cert {}: not a PEM certificate", cert.display())
                    })?;
                let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
                    format!("mqtt_client_key {}: no PEM private key", key.display())
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .context("mqtt_client_cert / mqtt_client_key")?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

fn check_prefix(p: &str) -> anyhow::Result<()> {
    if p.is_empty() || p.starts_with('/') || p.ends_with('/') || p.contains("//") {
        bail!(
            "mqtt_topic_prefix {p:?}: must be one or more non-empty topic levels, e.g. \"energy\""
        );
    }
    if p.contains(['+', '#', '\0']) {
        bail!("mqtt_topic_prefix {p:?}: must not contain the wildcards + or #");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = MqttConfig::from_url("mqtt://[::1]:1884").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.url()),
            ("::1", 1884, "mqtt://[::1]:1884".to_string())
        );
        for bad in [
            "127.0.0.1:1883",
            "mqtt://",
            "mqtt://u:p@h:1",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://h/path",
            "ws://h",
        ] {
            assert!(MqttConfig::from_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolution_and_checks() {
        assert!(
            MqttConfig::resolve(&MqttArgs::default(), &MqttFileConfig::default())
                .unwrap()
                .is_none()
        );
        let file: MqttFileConfig = toml::from_str("url = \"mqtt://h:1\"\ntopic_prefix = \"site/energy\"\nusername = \"gw\"\npassword = \"s\"\n").unwrap();
        let c = MqttConfig::resolve(&MqttArgs::default(), &file)
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.subscription(), c.ack_prefix()),
            (
                "site/energy/+/+/+".to_string(),
                "site/energy-ack".to_string()
            )
        );
        assert!(
            !format!("{c:?}").contains("\"s\""),
            "the password is never shown"
        );
        let args = MqttArgs {
            mqtt_url: Some("mqtt://h".into()),
            mqtt_topic_prefix: Some("energy".into()),
            ..Default::default()
        };
        assert_eq!(
            MqttConfig::resolve(&args, &file)
                .unwrap()
                .unwrap()
                .topic_prefix,
            "energy"
        );
        for bad in ["", "a/", "/a", "a//b", "a/+", "#"] {
            let args = MqttArgs {
                mqtt_url: Some("mqtt://h".into()),
                mqtt_topic_prefix: Some(bad.into()),
                ..Default::default()
            };
            assert!(
                MqttConfig::resolve(&args, &MqttFileConfig::default()).is_err(),
                "{bad:?}"
            );
        }
        let args = MqttArgs {
            mqtt_url: Some("mqtt://h".into()),
            mqtt_ca_file: Some("/x".into()),
            ..Default::default()
        };
        assert!(
            MqttConfig::resolve(&args, &MqttFileConfig::default()).is_err(),
            "CA without TLS"
        );
        let args = MqttArgs {
            mqtt_url: Some("mqtt://h".into()),
            mqtt_ack_qos: Some(2),
            ..Default::default()
        };
        assert!(MqttConfig::resolve(&args, &MqttFileConfig::default()).is_err());
        assert!(
            toml::from_str::<MqttFileConfig>("urll = \"x\"").is_err(),
            "unknown keys are refused"
        );
    }
}
