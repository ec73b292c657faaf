//! Importing a recorded block: one run of the sequential executor with no
//! declarations records what each transaction really reads and writes, the
//! run's receipts are checked against the header, and the recorded access
//! becomes each transaction's declaration. A second run, with those
//! declarations enforced, must give the same outcome.

use crate::error::ImportError;
use crate::receipts::ReceiptCommitments;
use crate::source::SourceBlock;
use defivm_vm::{BlockOutcome, SequentialExecutor, VmError};

/// A block that verified against its header, its transactions declaring
/// what they touch.
#[derive(Debug, Clone)]
pub struct ImportedBlock {
    /// The block, each transaction with its recorded declaration.
    pub block: SourceBlock,
    /// What the sequential executor made of it.
    pub outcome: BlockOutcome,
}

/// Records `block`'s declarations and verifies it against its header.
pub fn import(mut block: SourceBlock) -> Result<ImportedBlock, ImportError> {
    let number = block.number;
    let failed = |source| ImportError::Execution { block: number, source };
    let executor = SequentialExecutor::new().with_access_record(true);
    let (outcome, declarations) = executor.record(&block.state, &block.env, &block.txs).map_err(failed)?;
    let computed =
        ReceiptCommitments::compute(block.env.spec, block.txs.iter().map(|tx| tx.tx_type()), &outcome.receipts);
    block.header.verify(&computed).map_err(|mismatch| ImportError::Header { block: number, mismatch })?;
    for (tx, access) in block.txs.iter_mut().zip(declarations) {
        tx.access = access;
    }
    let declared = executor.execute(&block.state, &block.env, &block.txs).map_err(failed)?;
    if declared != outcome {
        let index = declared.receipts.iter().zip(&outcome.receipts).position(|(a, b)| a != b).unwrap_or(0);
        let message = "the recorded declarations do not replay to the recorded outcome".to_string();
        return Err(failed(VmError::Internal { index, message }));
    }
    Ok(ImportedBlock { block, outcome })
}
