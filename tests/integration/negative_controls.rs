//! Each detector's test must be able to fail. With the `negative-controls`
//! feature, these tests weaken a detector and show that the very check the
//! normal suite relies on then misses the fault. Run by `.ci/run`.

#[cfg(feature = "negative-controls")]
mod weakened {
    use std::fs;

    use graphvault::store::negative_controls::set_skip_checksum;
    use graphvault::store::verify::{Depth, Status, Target};

    use crate::common;

    #[test]
    fn skipping_the_checksum_compare_lets_a_bit_flip_through() {
        let s = common::app_store();
        let mut bytes = fs::read(s.primary()).expect("read");
        // Flip a bit inside a string value: still valid JSON, so only the
        // checksum can catch it.
        let at = bytes
            .windows(6)
            .position(|w| w == b"symbol")
            .expect("symbol")
            + 10;
        bytes[at] ^= 0x01;
        fs::write(s.primary(), &bytes).expect("write");
        assert_eq!(
            s.open()
                .verify(&Target::Primary, Depth::Full)
                .expect("verify")
                .status,
            Status::Corrupt
        );
        set_skip_checksum(true);
        let weakened = s
            .open()
            .verify(&Target::Primary, Depth::Full)
            .expect("verify");
        let weakened = weakened.status;
        set_skip_checksum(false);
        assert_eq!(
            weakened,
            Status::Valid,
            "with the compare skipped the flip goes unnoticed"
        );
    }
}
