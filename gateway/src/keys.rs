//! The gateway's Ed25519 key: generated on first start from the operating
//! system's randomness, kept as hex in a file created with mode 0600.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use kwh_btc_iot_core::Keypair;

/// Loads the key file, or creates it (with a fresh random seed) when absent.
pub fn load_or_create(path: &Path) -> anyhow::Result<Keypair> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            Keypair::from_hex(text.trim())
                .map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(e).with_context(|| format!("reading key file {}", path.display())),
    }
}

fn create(path: &Path) -> anyhow::Result<Keypair> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| anyhow::anyhow!("no randomness for the gateway key: {e}"))?;
    if seed == [0u8; 32] {
        bail!("the operating system returned an all-zero seed; refusing to create a key");
    }
    let key = Keypair::from_seed(&seed);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating key file {}", path.display()))?;
    f.write_all(kwh_btc_iot_core::encoding::hex::encode(&seed).as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    tracing::info!(path = %path.display(), "created a new gateway key");
    Ok(key)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the gateway key file is readable by group or others; chmod 600 it");
            }
        }
    }
}
