//! Shared parts of the MQTT tests: a real Debian Mosquitto on a loopback
//! port (its own config, persistence and optional password file, ACL and
//! TLS listener), rumqttc publishers and an acknowledgement listener.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// The Mosquitto binary: `$MOSQUITTO`, else Debian's.
pub fn mosquitto_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MOSQUITTO") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/usr/bin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Mosquitto, or a loud skip (scripts/test-mqtt.sh installs it; with
/// `KWH_BTC_IOT_REQUIRE_MQTT=1` a missing broker fails the test instead).
pub fn require_mosquitto(test: &str) -> Option<PathBuf> {
    match mosquitto_binary() {
        Some(p) => Some(p),
        None if std::env::var("KWH_BTC_IOT_REQUIRE_MQTT").is_ok() => {
            panic!("{test}: mosquitto is not installed")
        }
        None => {
            eprintln!("\n!!!!!!!! SKIPPED {test}: mosquitto is not installed (apt-get install mosquitto; scripts/test-mqtt.sh does) !!!!!!!!\n");
            None
        }
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A broker user.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub password: String,
}

/// How to run a broker.
#[derive(Clone, Default)]
pub struct BrokerOptions {
    /// Users (with a password file, anonymous access is off).
    pub users: Vec<User>,
    /// ACL file text.
    pub acl: Option<String>,
    /// A TLS listener: (CA, server cert, server key) PEM files.
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

/// A Mosquitto process on a loopback port, persisting in its own directory.
pub struct Broker {
    pub port: u16,
    pub tls_port: Option<u16>,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn start(bin: &Path, opts: BrokerOptions) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let tls_port = opts.tls.as_ref().map(|_| free_port());
        let mut conf = String::new();
        // mosquitto started as root drops to the `mosquitto` user, which
        // could not write the persistence file in our temp dir.
        if Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false)
        {
            conf.push_str("user root\n");
        }
        conf.push_str(&format!(
            "per_listener_settings false\npersistence true\npersistence_location {}/\nautosave_interval 1\n\
             max_inflight_messages 1000\nmax_queued_messages 1000000\nmax_packet_size 1048576\n\
             log_dest file {}/mosquitto.log\nlog_type error\nlog_type warning\nlog_type notice\n\
             listener {port} 127.0.0.1\n",
            dir.path().display(),
            dir.path().display()
        ));
        if !opts.users.is_empty() {
            let pw = dir.path().join("passwords");
            std::fs::write(&pw, "").unwrap();
            for u in &opts.users {
                let ok = Command::new("mosquitto_passwd")
                    .arg("-b")
                    .arg(&pw)
                    .arg(&u.name)
                    .arg(&u.password)
                    .status()
                    .expect("mosquitto_passwd")
                    .success();
                assert!(ok, "mosquitto_passwd");
            }
            conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                pw.display()
            ));
        } else {
            conf.push_str("allow_anonymous true\n");
        }
        if let Some(acl) = &opts.acl {
            let f = dir.path().join("acl");
            std::fs::write(&f, acl).unwrap();
            conf.push_str(&format!("acl_file {}\n", f.display()));
        }
        if let (Some((ca, cert, key)), Some(tp)) = (&opts.tls, tls_port) {
            conf.push_str(&format!(
                "listener {tp} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
                ca.display(),
                cert.display(),
                key.display()
            ));
        }
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut b = Broker {
            port,
            tls_port,
            dir,
            bin: bin.to_path_buf(),
            conf: conf_path,
            child: None,
        };
        b.run();
        b
    }

    fn run(&mut self) {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mosquitto exited ({st}); log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {}; log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("mosquitto.log"))
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops gracefully (SIGTERM: the broker saves its sessions and queues).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    /// Stops and starts again on the same port with the same persistence.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Client options for tests.
pub fn options(id: &str, port: u16, user: Option<&User>) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(10))
        .set_clean_session(false)
        .set_max_packet_size(1 << 20, 1 << 20)
        .set_inflight(200);
    if let Some(u) = user {
        o.set_credentials(u.name.clone(), u.password.clone());
    }
    o
}

/// A publisher: a rumqttc client whose event loop runs in the background,
/// reconnecting (and retransmitting unacknowledged publishes, as its session
/// is persistent) until dropped.
pub struct Publisher {
    pub client: AsyncClient,
    pub pubacks: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    pub fn new(opts: MqttOptions) -> Publisher {
        let (client, mut ev) = AsyncClient::new(opts, 1000);
        let pubacks = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let p = pubacks.clone();
        let task = tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Publisher {
            client,
            pubacks,
            task,
        }
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .expect("publish request");
    }

    /// Waits until `n` publishes were acknowledged by the broker.
    pub async fn wait_pubacks(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.pubacks.load(std::sync::atomic::Ordering::Relaxed) < n {
            assert!(
                Instant::now() < deadline,
                "the broker acknowledged only {} of {n} publishes",
                self.pubacks.load(std::sync::atomic::Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Acknowledgements received on `<ack_prefix>/#`, by topic, in arrival order.
#[derive(Clone, Default)]
pub struct Acks(pub Arc<Mutex<HashMap<String, Vec<serde_json::Value>>>>);

impl Acks {
    pub fn all(&self) -> Vec<(String, serde_json::Value)> {
        let m = self.0.lock().unwrap();
        m.iter()
            .flat_map(|(t, v)| v.iter().map(move |a| (t.clone(), a.clone())))
            .collect()
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().values().map(Vec::len).sum()
    }
    pub fn on(&self, topic: &str) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .get(topic)
            .cloned()
            .unwrap_or_default()
    }
    /// Waits until `topic` has at least `n` acknowledgements.
    pub async fn wait_on(
        &self,
        topic: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.on(topic);
            if v.len() >= n {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} acknowledgements on {topic}",
                v.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    pub async fn wait_count(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} acknowledgements",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A subscriber collecting acknowledgements (`filter`, e.g. `energy-ack/#`).
pub struct AckListener {
    pub acks: Acks,
    pub client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl AckListener {
    pub async fn start(mut opts: MqttOptions, filter: &str) -> AckListener {
        opts.set_clean_session(true);
        let (client, mut ev) = AsyncClient::new(opts, 100);
        let acks = Acks::default();
        let a = acks.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let c = client.clone();
        let filter_owned = filter.to_string();
        let task = tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = c.try_subscribe(filter_owned.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let v: serde_json::Value =
                            serde_json::from_slice(&p.payload).expect("acknowledgements are JSON");
                        a.0.lock()
                            .unwrap()
                            .entry(p.topic.clone())
                            .or_default()
                            .push(v);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(20), ready_rx)
            .await
            .expect("ack listener subscribed")
            .unwrap();
        AckListener { acks, client, task }
    }
}

impl Drop for AckListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A compact payload for reading `i` (a distinct 5-minute window each).
pub fn compact(i: u64) -> String {
    let start = 1_764_583_800 + i * 300; // 2025-12-01T10:10:00Z + i windows
    let t = |s: u64| kwh_btc_iot_core::time::Timestamp::from_unix(s as i64, 0).to_rfc3339();
    format!(
        r#"{{"ts_start":"{}","ts_end":"{}","energy_kwh":{}.25,"price_sats_per_kwh":100,"channel":"ln","tags":["t{}"]}}"#,
        t(start),
        t(start + 300),
        i % 1000,
        i % 7
    )
}

/// The full log the gateway makes of `compact(i)` on `topic` (for expected leaf hashes).
pub fn expected_leaf(topic_ids: (&str, &str, &str), compact_json: &str) -> String {
    let ids = kwh_btc_iot_gateway::mqtt::payload::TopicIds {
        site_id: topic_ids.0.into(),
        iot_device_id: topic_ids.1.into(),
        meter_id: topic_ids.2.into(),
    };
    let t = kwh_btc_iot_gateway::mqtt::payload::to_log_json(&ids, compact_json.as_bytes()).unwrap();
    kwh_btc_iot_core::leaf_hash(&t.json).unwrap().to_hex()
}

/// A CA and a server certificate for 127.0.0.1 (openssl CLI); `None` without openssl.
pub fn make_certs(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !run(&["version"]) {
        return None;
    }
    let ok = run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=kwh-test-ca",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]) && {
        let mut f = std::fs::File::create(dir.join("ext.cnf")).unwrap();
        writeln!(f, "subjectAltName=IP:127.0.0.1,DNS:localhost").unwrap();
        true
    } && run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    assert!(ok, "openssl could not make the test certificates");
    Some((
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    ))
}
