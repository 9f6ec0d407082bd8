use super::*;
use crate::test_vectors::{data_key, vector};

#[test]
fn plain_round_trips_like_sops() {
    for case in ["ini", "ini_quirks"] {
        let docs = IniStore
            .load(&vector(&format!("{case}.plain.ini")))
            .unwrap();
        let out = IniStore.emit(&docs, None).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&vector(&format!("{case}.decrypted.ini"))),
            "{case}"
        );
    }
}

#[test]
fn encrypted_vectors_decrypt() {
    for case in ["ini", "ini_quirks"] {
        let enc = vector(&format!("{case}.enc.ini"));
        let (mut docs, meta) = IniStore.load_encrypted(&enc).unwrap();
        crate::ops::decrypt_docs(&mut docs, &data_key(case), &meta, false).unwrap();
        let out = IniStore.emit(&docs, None).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&vector(&format!("{case}.decrypted.ini"))),
            "{case}"
        );
        // Re-emitting keeps every line (the [sops] keys are sorted, sops 3.11 writes them in random order).
        let again = IniStore.emit_encrypted(&docs, &meta).unwrap();
        let (_, meta2) = IniStore.load_encrypted(&again).unwrap();
        assert_eq!(meta, meta2);
    }
}
