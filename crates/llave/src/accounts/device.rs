//! The device cookie (finding 13.9): a browser where a person signed in before carries a
//! signed note of it, so the right password gets through from there even while someone
//! elsewhere is guessing at the account. HMAC-SHA256 under the server's cookie secret over
//! the account, the issue time and a random device name; set at each successful sign-in,
//! HttpOnly, SameSite=Strict, `Secure`/`__Host-` when served over HTTPS, for 400 days.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use crate::store::AccountId;

pub const DEVICE_COOKIE: &str = "llave_device";

/// How long a device stays known without a sign-in (browsers keep no cookie longer).
pub const DEVICE_SECONDS: i64 = 400 * 24 * 3600;

/// A device cookie that verified: whose it is, and the device's own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub account: AccountId,
    pub name: String,
}

impl Device {
    /// Its throttling key: a known device has a failure budget of its own.
    pub fn throttle_key(&self) -> String {
        format!("device:{}:{}", self.account.0, self.name)
    }
}

fn mac(key: &[u8], account: i64, issued_at: i64, name: &str) -> Vec<u8> {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("llave device v1:{account}:{issued_at}:{name}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A new cookie value for `account`, issued at `now`.
pub fn issue(key: &[u8], account: AccountId, now: i64) -> String {
    let name = crate::crypto::random_id();
    let mac = URL_SAFE_NO_PAD.encode(mac(key, account.0, now, &name));
    format!("{}.{now}.{name}.{mac}", account.0)
}

/// The device a cookie value names, if it is authentic and not too old.
pub fn verify(key: &[u8], value: &str, now: i64) -> Option<Device> {
    let mut parts = value.split('.');
    let (account, issued_at, name, given) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || name.is_empty() || name.len() > 64 {
        return None;
    }
    let (account, issued_at) = (account.parse::<i64>().ok()?, issued_at.parse::<i64>().ok()?);
    let given = URL_SAFE_NO_PAD.decode(given).ok()?;
    let authentic = bool::from(mac(key, account, issued_at, name).as_slice().ct_eq(given.as_slice()));
    (authentic && issued_at <= now && now - issued_at <= DEVICE_SECONDS)
        .then(|| Device { account: AccountId(account), name: name.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_verifies_only_as_issued() {
        let value = issue(b"key", AccountId(7), 1000);
        let device = verify(b"key", &value, 2000).expect("valid");
        assert_eq!(device.account, AccountId(7));
        assert!(verify(b"other", &value, 2000).is_none());
        assert!(verify(b"key", &value, 1000 + DEVICE_SECONDS + 1).is_none(), "too old");
        assert!(verify(b"key", &value.replacen('7', "8", 1), 2000).is_none(), "another account");
        for bad in ["", "7", "7.1000.x", "7.1000.x.y.z", "a.b.c.d"] {
            assert!(verify(b"key", bad, 2000).is_none(), "{bad}");
        }
    }
}
