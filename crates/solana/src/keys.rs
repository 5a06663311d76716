//! Reading Solana keys from the environment or a file, in the two common encodings.

use solana_keypair::Keypair;

/// Parses a keypair given as base58 (a wallet export) or a JSON byte array (a keygen file).
/// The error never echoes the input, which is a secret.
pub fn parse_keypair(text: &str) -> Result<Keypair, String> {
    let text = text.trim();
    let bytes: Vec<u8> = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|_| "not a JSON array of 64 bytes".to_string())?
    } else {
        bs58::decode(text)
            .into_vec()
            .map_err(|_| "not base58".to_string())?
    };
    if bytes.len() != 64 {
        return Err(format!("{} bytes; a keypair has 64", bytes.len()));
    }
    Keypair::try_from(bytes.as_slice()).map_err(|_| "not a valid ed25519 keypair".to_string())
}

/// Parses one JSON-array keypair, or a comma-separated list of base58 keypairs (one fee payer
/// each).
pub fn parse_keypairs(text: &str) -> Result<Vec<Keypair>, String> {
    if text.trim().starts_with('[') {
        return parse_keypair(text).map(|k| vec![k]);
    }
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .enumerate()
        .map(|(i, s)| parse_keypair(s).map_err(|e| format!("key {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_signer::Signer;

    #[test]
    fn both_encodings_round_trip_and_errors_hide_the_key() {
        let k = Keypair::new();
        let b58 = k.to_base58_string();
        assert_eq!(parse_keypair(&b58).unwrap().pubkey(), k.pubkey());
        let json = serde_json::to_string(&k.to_bytes().to_vec()).unwrap();
        assert_eq!(parse_keypair(&json).unwrap().pubkey(), k.pubkey());
        let err = parse_keypair(&b58[..40]).unwrap_err();
        assert!(!err.contains(&b58[..10]), "{err}");
        assert_eq!(parse_keypairs(&format!("{b58},{b58}")).unwrap().len(), 2);
    }
}
