//! Human-comparable fingerprints: safety numbers for a pair of identities,
//! and the organisation root's short fingerprint for invitation letters.
//! Algorithms in `docs/PROTOCOL.md` §10.

use sha2::{Digest, Sha256, Sha512};

use crate::keys::{IdentityKey, OrgRootPublicKey};

const SAFETY_ITERATIONS: usize = 5200;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// 30 decimal digits that stand for one party's identity: its stable id
/// and its device identity keys, sorted by their bytes and concatenated.
fn party_digits(stable_id: &[u8], keys: &[IdentityKey]) -> String {
    let mut sorted: Vec<[u8; 32]> = keys.iter().map(IdentityKey::to_bytes).collect();
    sorted.sort_unstable();
    let key: Vec<u8> = sorted.concat();
    let mut h = Sha512::new();
    h.update(b"samtale/v1/safety-number\0");
    h.update((stable_id.len() as u64).to_be_bytes());
    h.update(stable_id);
    h.update(&key);
    let mut digest = h.finalize();
    for _ in 1..SAFETY_ITERATIONS {
        let mut h = Sha512::new();
        h.update(digest);
        h.update(&key);
        digest = h.finalize();
    }
    let mut out = String::with_capacity(30);
    for chunk in digest[..30].chunks_exact(5) {
        let mut n: u64 = 0;
        for b in chunk {
            n = (n << 8) | u64::from(*b);
        }
        out.push_str(&format!("{:05}", n % 100_000));
    }
    out
}

/// A 60-digit safety number for two parties, each given as a stable id
/// (e.g. the account id's bytes) and identity key. Both sides compute the
/// same number: the two halves are ordered. Displayed in 12 groups of 5.
///
/// ```
/// use samtale_protocol::{DeviceKeys, safety_number};
/// let (a, b) = (DeviceKeys::generate()?, DeviceKeys::generate()?);
/// let ab = safety_number((b"alice", &a.public().identity), (b"bob", &b.public().identity));
/// let ba = safety_number((b"bob", &b.public().identity), (b"alice", &a.public().identity));
/// assert_eq!(ab, ba);
/// assert_eq!(ab.split(' ').count(), 12);
/// # Ok::<(), samtale_protocol::RandomnessError>(())
/// ```
pub fn safety_number(a: (&[u8], &IdentityKey), b: (&[u8], &IdentityKey)) -> String {
    safety_number_for_devices(
        (a.0, std::slice::from_ref(a.1)),
        (b.0, std::slice::from_ref(b.1)),
    )
}

/// The safety number of two accounts with any number of devices each: a
/// party's half covers all of its current device identity keys (in any
/// order), so it changes when a device is added, removed or replaced. With
/// one device per party it equals [`safety_number`].
///
/// ```
/// use samtale_protocol::{DeviceKeys, safety_number, safety_number_for_devices};
/// let (phone, tablet, desk) = (DeviceKeys::generate()?, DeviceKeys::generate()?, DeviceKeys::generate()?);
/// let (p, t, d) = (phone.public().identity, tablet.public().identity, desk.public().identity);
/// let one = safety_number_for_devices((b"maja", &[p]), (b"mette", &[d]));
/// assert_eq!(one, safety_number((b"maja", &p), (b"mette", &d)));
/// let two = safety_number_for_devices((b"maja", &[t, p]), (b"mette", &[d]));
/// assert_ne!(one, two);
/// assert_eq!(two, safety_number_for_devices((b"mette", &[d]), (b"maja", &[p, t])));
/// # Ok::<(), samtale_protocol::RandomnessError>(())
/// ```
pub fn safety_number_for_devices(a: (&[u8], &[IdentityKey]), b: (&[u8], &[IdentityKey])) -> String {
    let (x, y) = (party_digits(a.0, a.1), party_digits(b.0, b.1));
    let joined = if x <= y { x + &y } else { y + &x };
    groups(joined.as_bytes(), 5, " ")
}

fn groups(chars: &[u8], size: usize, sep: &str) -> String {
    chars
        .chunks(size)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

/// A device's fingerprint, which people compare when one device approves
/// another or an admin certifies one: the first 100 bits of
/// `SHA-256("samtale/v1/device-fingerprint" || 0x00 || identity key)` as 25
/// upper-case hex digits in five groups of five, e.g.
/// `3F2A9-0C1DE-…`.
///
/// ```
/// use samtale_protocol::{DeviceKeys, device_fingerprint};
/// let d = DeviceKeys::generate()?;
/// let f = device_fingerprint(&d.public().identity);
/// assert_eq!(f.len(), 29);
/// assert_eq!(f.split('-').count(), 5);
/// # Ok::<(), samtale_protocol::RandomnessError>(())
/// ```
pub fn device_fingerprint(identity: &IdentityKey) -> String {
    let mut h = Sha256::new();
    h.update(b"samtale/v1/device-fingerprint\0");
    h.update(identity.to_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02X}")).collect();
    groups(&hex.as_bytes()[..25], 5, "-")
}

/// The organisation root's fingerprint for printing on letters: 125 bits of
/// SHA-256 as 25 Crockford base32 characters in five groups, e.g.
/// `7K2QX-M3PAD-...`.
pub fn org_fingerprint(root: &OrgRootPublicKey) -> String {
    let mut h = Sha256::new();
    h.update(b"samtale/v1/org-root-fingerprint\0");
    h.update(root.to_bytes());
    let digest = h.finalize();
    let mut bits: u128 = 0;
    for b in &digest[..16] {
        bits = (bits << 8) | u128::from(*b);
    }
    bits >>= 3; // keep the first 125 bits
    let mut chars = [0u8; 25];
    for (i, c) in chars.iter_mut().enumerate() {
        let shift = 5 * (24 - i);
        *c = CROCKFORD[((bits >> shift) & 0x1f) as usize];
    }
    groups(&chars, 5, "-")
}

/// Compares a fingerprint typed by a person with the expected one, ignoring
/// case, spaces and hyphens, and reading `O`, `I` and `L` as Crockford does.
pub fn fingerprints_match(typed: &str, expected: &str) -> bool {
    fn norm(s: &str) -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            })
            .collect()
    }
    let (a, b) = (norm(typed), norm(expected));
    !a.is_empty() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{DeviceKeys, OrgRootKey};

    #[test]
    fn safety_numbers_differ_when_either_key_changes() {
        let a = DeviceKeys::from_seeds(&[1; 32], &[2; 32]).public().identity;
        let b = DeviceKeys::from_seeds(&[3; 32], &[4; 32]).public().identity;
        let c = DeviceKeys::from_seeds(&[5; 32], &[6; 32]).public().identity;
        let ab = safety_number((b"a", &a), (b"b", &b));
        assert_eq!(ab.len(), 60 + 11);
        assert!(ab.chars().all(|ch| ch.is_ascii_digit() || ch == ' '));
        assert_ne!(ab, safety_number((b"a", &a), (b"b", &c)));
        assert_ne!(ab, safety_number((b"a", &a), (b"c", &b)));
    }

    #[test]
    fn an_org_fingerprint_is_25_readable_characters() {
        let root = OrgRootKey::from_seed(&[8; 32]).public();
        let fp = org_fingerprint(&root);
        assert_eq!(fp.len(), 29);
        assert_eq!(fp.split('-').count(), 5);
        assert!(fingerprints_match(
            &fp.to_lowercase().replace('-', " "),
            &fp
        ));
        assert!(!fingerprints_match("", &fp));
        let other = org_fingerprint(&OrgRootKey::from_seed(&[9; 32]).public());
        assert!(!fingerprints_match(&other, &fp));
    }
}
