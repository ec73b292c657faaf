//! Which rules apply to a mainnet block: the hardfork activated at its
//! number (through the Merge) or its timestamp (from Shanghai on), and the
//! blob fee parameters of the forks that change only those (EIP-7892).

use alloy_eips::eip7840::BlobParams;
use alloy_hardforks::{EthereumChainHardforks, EthereumHardforks};
use defivm_vm::SpecId;

/// The hardfork whose rules apply to mainnet block `number` at `timestamp`.
pub fn mainnet_spec(number: u64, timestamp: u64) -> SpecId {
    alloy_evm::spec_by_timestamp_and_block_number(&EthereumChainHardforks::mainnet(), timestamp, number)
}

/// The blob base fee's update fraction of a mainnet block at `timestamp`,
/// from Cancun on.
pub fn mainnet_blob_update_fraction(timestamp: u64) -> Option<u64> {
    let forks = EthereumChainHardforks::mainnet();
    let params = if forks.is_bpo2_active_at_timestamp(timestamp) {
        BlobParams::bpo2()
    } else if forks.is_bpo1_active_at_timestamp(timestamp) {
        BlobParams::bpo1()
    } else if forks.is_osaka_active_at_timestamp(timestamp) {
        BlobParams::osaka()
    } else if forks.is_prague_active_at_timestamp(timestamp) {
        BlobParams::prague()
    } else if forks.is_cancun_active_at_timestamp(timestamp) {
        BlobParams::cancun()
    } else {
        return None;
    };
    // Every fraction so far is a few million.
    u64::try_from(params.update_fraction).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forks_of_the_mainnet_blocks_around_their_activations() {
        // (number, timestamp, spec): the last block before a fork and the first of it.
        let cases = [
            (1_149_999, 1_457_981_342, SpecId::FRONTIER),
            (1_150_000, 1_457_981_393, SpecId::HOMESTEAD),
            (2_674_999, 1_479_831_337, SpecId::TANGERINE),
            (2_675_000, 1_479_831_344, SpecId::SPURIOUS_DRAGON),
            (4_369_999, 1_508_131_303, SpecId::SPURIOUS_DRAGON),
            (4_370_000, 1_508_131_331, SpecId::BYZANTIUM),
            (7_280_000, 1_551_383_524, SpecId::PETERSBURG),
            (9_069_000, 1_575_764_709, SpecId::ISTANBUL),
            (12_243_999, 1_618_481_214, SpecId::ISTANBUL),
            (12_244_000, 1_618_481_223, SpecId::BERLIN),
            (12_965_000, 1_628_166_822, SpecId::LONDON),
            (15_537_393, 1_663_224_162, SpecId::LONDON),
            (15_537_394, 1_663_224_179, SpecId::MERGE),
            (17_034_869, 1_681_338_443, SpecId::MERGE),
            (17_034_870, 1_681_338_455, SpecId::SHANGHAI),
            (19_426_586, 1_710_338_123, SpecId::SHANGHAI),
            (19_426_587, 1_710_338_135, SpecId::CANCUN),
            (22_431_084, 1_746_612_311, SpecId::PRAGUE),
            (23_935_694, 1_764_798_551, SpecId::OSAKA),
        ];
        for (number, timestamp, spec) in cases {
            assert_eq!(mainnet_spec(number, timestamp), spec, "block {number}");
        }
    }

    #[test]
    fn blob_fee_fractions_follow_the_blob_forks() {
        assert_eq!(mainnet_blob_update_fraction(1_710_338_123), None);
        assert_eq!(mainnet_blob_update_fraction(1_710_338_135), Some(3_338_477));
        assert_eq!(mainnet_blob_update_fraction(1_746_612_311), Some(5_007_716));
        assert_eq!(mainnet_blob_update_fraction(1_765_290_071), Some(8_346_193));
        assert_eq!(mainnet_blob_update_fraction(1_767_747_671), Some(11_684_671));
    }
}
