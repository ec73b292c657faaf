//! Fixtures: a recorded block (environment, genesis, transactions with their
//! declared access) and the outcome the sequential executor produced, as
//! JSON in Ethereum's conventions: hex quantities and data, and
//! EIP-2930-style `{address, storageKeys}` access lists split into reads and
//! writes. A block of a real chain also carries its transactions' Ethereum
//! fields (type, chain id, EIP-2930 access list, blobs, authorizations), the
//! header fields it must reproduce, and may keep its code in a file it
//! shares with other fixtures. The format is documented in
//! `fixtures/README.md`.

use crate::ethereum::BalAccountJson;
use crate::vm::{
    AccessSet, BlockEnv, BlockOutcome, Declarations, Receipt, SpecId, State, StateKey, Status, Transaction, VmError,
    Withdrawal,
};
use alloy_eips::eip2930::AccessList;
use alloy_eips::eip7702::SignedAuthorization;
use alloy_primitives::{Address, B256, Bloom, Bytes, U256};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

mod check;
mod codes;
mod convert;
mod load;
mod segments;
mod stream;
use check::HeaderCheck;
pub use check::Mismatch;
pub use codes::{CodeFile, Codes};
pub use load::{LoadedFixture, STREAM_TXS};
pub use stream::StreamCheck;

/// The fixture format this build writes. Version 2 adds what a block of a
/// real chain needs (all optional): a version-1 file is a version-2 file
/// without them, and reads as one. Among them is `declarations`, which
/// says whether the declared access is a promise or a hint (without it, a
/// promise).
pub const VERSION: u64 = 2;

/// The oldest version this build reads.
pub const OLDEST_VERSION: u64 = 1;

/// Why a fixture could not be read, written or used. Each variant names the
/// file, and where it applies the transaction and the field.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        message: String,
    },
    /// Not valid fixture JSON (syntax, a missing field, bad hex).
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A version this build does not know.
    #[error(
        "{path}: fixture version {found} is not supported (this build reads versions {OLDEST_VERSION} to {VERSION})"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// A field that parses but makes no sense.
    #[error("{path}: {location}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where: `env.hardfork`, `transactions[3].maxFeePerGas`, ...
        location: String,
        /// What is wrong.
        message: String,
    },
}

/// A fixture file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    /// Format version: [`VERSION`].
    pub version: u64,
    /// A name for reports.
    #[serde(default)]
    pub name: String,
    /// The block environment.
    pub env: EnvJson,
    /// A file of code by hash (see [`CodeFile`]), named relative to this
    /// fixture's folder, that genesis accounts with a `codeHash` take their
    /// code from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<String>,
    /// Every account before the block.
    pub genesis: BTreeMap<Address, AccountJson>,
    /// The transactions, in block order.
    pub transactions: Vec<TxJson>,
    /// For a block of a real chain: what its header commits to about its
    /// receipts, which every replay must reproduce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderJson>,
    /// What the sequential executor produced, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeJson>,
    /// For a block that is invalid on purpose: the error every executor
    /// must fail it with (instead of an outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_error: Option<String>,
    /// The block's EIP-7928 access list, as the sequential executor
    /// recorded it, in the EIP's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_access_list: Option<Vec<BalAccountJson>>,
    /// Its hash, `keccak256(rlp(list))`; present with the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_access_list_hash: Option<B256>,
    /// What the transactions' declared access is: a promise (`strict`, as
    /// when absent) or a hint (`hints`, as `defivm declare` derives it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declarations: Option<DeclarationsJson>,
}

/// A fixture's `declarations`: [`Declarations`] as JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeclarationsJson {
    /// [`Declarations::Strict`].
    Strict,
    /// [`Declarations::Hints`].
    Hints,
}

impl From<DeclarationsJson> for Declarations {
    fn from(json: DeclarationsJson) -> Self {
        match json {
            DeclarationsJson::Strict => Declarations::Strict,
            DeclarationsJson::Hints => Declarations::Hints,
        }
    }
}

/// The block environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvJson {
    /// Block number.
    pub number: U256,
    /// Unix timestamp.
    pub timestamp: U256,
    /// Fee recipient.
    pub beneficiary: Address,
    /// Base fee per gas.
    pub base_fee: U256,
    /// Block gas limit.
    pub gas_limit: U256,
    /// Chain id.
    pub chain_id: U256,
    /// Hardfork name as revm spells it (`Cancun`, `Prague`, ...).
    pub hardfork: String,
    /// `PREVRANDAO`.
    #[serde(default)]
    pub prev_randao: B256,
    /// `DIFFICULTY`, before the Merge.
    #[serde(default, skip_serializing_if = "U256::is_zero")]
    pub difficulty: U256,
    /// The excess blob gas (Cancun on).
    #[serde(default, skip_serializing_if = "U256::is_zero")]
    pub excess_blob_gas: U256,
    /// The blob base fee's update fraction, where it is not the hardfork's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_base_fee_update_fraction: Option<U256>,
    /// The parent block's hash (EIP-2935's system call, Prague on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_hash: Option<B256>,
    /// The parent beacon block root (EIP-4788's system call, Cancun on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_beacon_block_root: Option<B256>,
    /// Validator withdrawals (Shanghai on), as the JSON-RPC writes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawals: Vec<Withdrawal>,
    /// The block's ommers (uncles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ommers: Vec<OmmerJson>,
    /// The hashes `BLOCKHASH` answers with, by block number; any other
    /// block's reads as zero.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub block_hashes: BTreeMap<U256, B256>,
}

/// An ommer: its hash, and its miner and number where known (its reward
/// needs them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OmmerJson {
    /// The ommer's hash.
    pub hash: B256,
    /// Who mined it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary: Option<Address>,
    /// Its block number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<U256>,
}

/// What a block's header commits to about its receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderJson {
    /// The block's number, for reports.
    pub number: U256,
    /// `gasUsed`.
    pub gas_used: U256,
    /// `logsBloom`.
    pub logs_bloom: Bloom,
    /// `receiptsRoot`, from Byzantium on (before, receipts hold
    /// intermediate state roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts_root: Option<B256>,
}

impl HeaderJson {
    /// The header fields of block `number` that `commitments` give.
    pub fn new(number: u64, commitments: &crate::ethereum::ReceiptCommitments) -> Self {
        Self {
            number: U256::from(number),
            gas_used: U256::from(commitments.gas_used),
            logs_bloom: commitments.logs_bloom,
            receipts_root: commitments.receipts_root,
        }
    }
}

/// One account before the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountJson {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    #[serde(default)]
    pub nonce: U256,
    /// Code (empty for an externally owned account).
    #[serde(default, skip_serializing_if = "<[u8]>::is_empty")]
    pub code: Bytes,
    /// Instead of `code`: the hash of the code, which the fixture's code
    /// file holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<B256>,
    /// Storage slots.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage: BTreeMap<U256, U256>,
}

/// One declared entry: an account and/or some of its slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessJson {
    /// The account.
    pub address: Address,
    /// Whether the account key itself (balance, nonce, code) is declared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub account: bool,
    /// Declared storage slots of the account.
    #[serde(default)]
    pub storage_keys: Vec<U256>,
}

/// One transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TxJson {
    /// Sender.
    pub from: Address,
    /// Callee; `null` creates a contract.
    pub to: Option<Address>,
    /// Wei sent.
    pub value: U256,
    /// Calldata or init code.
    pub input: Bytes,
    /// Gas limit.
    pub gas: U256,
    /// Legacy gas price (instead of the two EIP-1559 fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas_price: Option<U256>,
    /// EIP-1559 fee cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fee_per_gas: Option<U256>,
    /// EIP-1559 priority fee cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority_fee_per_gas: Option<U256>,
    /// Sender nonce.
    pub nonce: U256,
    /// The Ethereum transaction type (EIP-2718), for a transaction of a
    /// real chain; without it, the type follows from the fee fields and the
    /// chain id from the block.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub tx_type: Option<U256>,
    /// The chain id it was signed for (with `type`; absent for a legacy
    /// transaction signed before EIP-155).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<U256>,
    /// The EIP-2930 access list (types 1 to 4): warms keys, changes gas. It
    /// is not the declared access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_list: Option<AccessList>,
    /// Most wei per blob gas (type 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fee_per_blob_gas: Option<U256>,
    /// The blobs' versioned hashes (type 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_versioned_hashes: Option<Vec<B256>>,
    /// Signed code delegations (type 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_list: Option<Vec<SignedAuthorization>>,
    /// Declared reads.
    #[serde(default)]
    pub reads: Vec<AccessJson>,
    /// Declared writes.
    #[serde(default)]
    pub writes: Vec<AccessJson>,
}

/// The recorded outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutcomeJson {
    /// One per transaction.
    pub receipts: Vec<ReceiptJson>,
    /// The state root after the block.
    pub state_root: B256,
}

/// One recorded receipt. A replay holds one per transaction of the block
/// (64 bytes each), so the common statuses are not allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptJson {
    /// `success`, `revert`, `halt: <reason>` or `violation: <read|write> <key>`.
    #[serde(deserialize_with = "status_from_json")]
    pub status: Cow<'static, str>,
    /// Gas used, a hex quantity.
    #[serde(with = "alloy_serde::quantity")]
    pub gas_used: u64,
    /// [`Receipt::logs_digest`].
    pub logs_digest: B256,
}

impl ReceiptJson {
    pub(crate) fn of(receipt: &Receipt) -> Self {
        Self { status: status_text(&receipt.status), gas_used: receipt.gas_used, logs_digest: receipt.logs_digest() }
    }
}

/// The common statuses, as a fixture writes them.
const SUCCESS: &str = "success";
const REVERT: &str = "revert";

/// A recorded status, borrowed where it is one of the common ones.
fn status_from_json<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cow<'static, str>, D::Error> {
    let status = String::deserialize(deserializer)?;
    Ok(match status.as_str() {
        SUCCESS => SUCCESS.into(),
        REVERT => REVERT.into(),
        _ => status.into(),
    })
}

/// A status as a fixture writes it; the common ones without allocating.
fn status_text(status: &Status) -> Cow<'static, str> {
    match status {
        Status::Success => SUCCESS.into(),
        Status::Revert => REVERT.into(),
        Status::Halt(reason) => format!("halt: {reason:?}").into(),
        Status::AccessViolation { key, kind } => format!("violation: {kind} {key}").into(),
    }
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Opens a file to read, through gzip if its name ends in `.gz`.
fn open(path: &Path) -> Result<Box<dyn Read>, FixtureError> {
    let file = File::open(path).map_err(|e| FixtureError::Io { path: path.into(), message: e.to_string() })?;
    let file = BufReader::with_capacity(1 << 16, file);
    Ok(if is_gzip(path) { Box::new(BufReader::new(flate2::read::GzDecoder::new(file))) } else { Box::new(file) })
}

/// Writes `text` to a file, gzip-compressed if its name ends in `.gz`.
fn write(path: &Path, text: &str) -> Result<(), FixtureError> {
    let io = |e: std::io::Error| FixtureError::Io { path: path.into(), message: e.to_string() };
    if is_gzip(path) {
        let file = File::create(path).map_err(io)?;
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, text.as_bytes()).map_err(io)?;
        encoder.finish().map_err(io)?;
        Ok(())
    } else {
        std::fs::write(path, text).map_err(io)
    }
}

/// Whether this build reads fixtures of `version`.
fn supported(version: u64) -> bool {
    (OLDEST_VERSION..=VERSION).contains(&version)
}

/// Reads a fixture file as `T`, whose format version `version` gives.
fn read<T: serde::de::DeserializeOwned>(path: &Path, version: impl Fn(&T) -> u64) -> Result<T, FixtureError> {
    // Streamed: a million-transaction fixture is gigabytes of JSON text,
    // which is never held in memory at once.
    match serde_json::from_reader::<_, T>(open(path)?) {
        Ok(read) if supported(version(&read)) => Ok(read),
        Ok(read) => Err(FixtureError::Version { path: path.into(), found: version(&read) }),
        // A future format should say so rather than fail on some field it
        // added: look for the version alone.
        Err(e) => Err(match serde_json::from_reader::<_, Versioned>(open(path)?) {
            Ok(v) if !supported(v.version) => FixtureError::Version { path: path.into(), found: v.version },
            _ => json_error(path, e),
        }),
    }
}

/// Just a fixture's format version.
#[derive(Deserialize)]
struct Versioned {
    version: u64,
}

fn json_error(path: &Path, e: serde_json::Error) -> FixtureError {
    FixtureError::Json { path: path.into(), line: e.line(), column: e.column(), message: e.to_string() }
}

/// What is wrong with one field of a fixture, before the file is named.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Invalid {
    /// `env.hardfork`, `transactions[3].gas`, ...
    location: String,
    message: String,
}

impl Invalid {
    fn at(self, path: &Path) -> FixtureError {
        FixtureError::Invalid { path: path.into(), location: self.location, message: self.message }
    }
}

impl Fixture {
    /// A fixture of a block on `state`, with `outcome` recorded if given.
    /// Code is written into each account; [`share_codes`](Self::share_codes)
    /// moves it to a file of its own.
    /// An outcome that recorded what the block accessed
    /// ([`BlockOutcome::access`] not empty) gives the block access list.
    pub fn new(name: &str, state: &State, env: &BlockEnv, txs: &[Transaction], outcome: Option<&BlockOutcome>) -> Self {
        let list = outcome.filter(|o| !o.access.is_empty()).map(|o| crate::ethereum::block_access_list(&o.access));
        Self {
            version: VERSION,
            name: name.to_string(),
            env: convert::env_to_json(env, state),
            codes: None,
            genesis: convert::genesis_to_json(state),
            transactions: txs.iter().map(convert::tx_to_json).collect(),
            header: None,
            outcome: outcome.map(|o| OutcomeJson {
                receipts: o.receipts.iter().map(ReceiptJson::of).collect(),
                state_root: o.state_root(state),
            }),
            expected_error: None,
            block_access_list_hash: list.as_ref().map(crate::ethereum::bal_hash),
            block_access_list: list.as_ref().map(crate::ethereum::bal_to_json),
            declarations: None,
        }
    }

    /// Moves every account's code into `shared` (by hash), leaving its hash
    /// in the account, and names `file` (relative to the fixture's folder)
    /// as the code file to read it from: several fixtures can then share
    /// one file of code ([`CodeFile::save`]).
    pub fn share_codes(&mut self, file: &str, shared: &mut BTreeMap<B256, Bytes>) {
        for account in self.genesis.values_mut() {
            if account.code.is_empty() {
                continue;
            }
            let code = core::mem::take(&mut account.code);
            let hash = alloy_primitives::keccak256(&code);
            shared.entry(hash).or_insert(code);
            account.code_hash = Some(hash);
        }
        self.codes = Some(file.to_string());
    }

    /// Takes every shared code into its account, so that the fixture no
    /// longer needs its code file; `path` is the fixture's own, which the
    /// code file is named relative to, and `codes` the code files read so
    /// far.
    pub fn inline_codes(&mut self, path: &Path, codes: &Codes) -> Result<(), FixtureError> {
        let Some(file) = self.codes.take() else {
            return Ok(());
        };
        let codes = codes.get(&codes::beside(path, &file))?;
        for (address, account) in &mut self.genesis {
            if let Some(hash) = account.code_hash.take() {
                let code = convert::shared_code(*address, &hash, Some(&*codes)).map_err(|e| e.at(path))?;
                account.code = code.original_bytes();
            }
        }
        Ok(())
    }

    /// Puts `declarations` in place of the transactions' declared access,
    /// one per transaction in block order (as many as there are), and
    /// records them as `kind`.
    pub fn set_declarations(&mut self, declarations: &[AccessSet<StateKey>], kind: DeclarationsJson) {
        assert_eq!(declarations.len(), self.transactions.len(), "one declaration per transaction");
        self.declarations = Some(kind);
        for (tx, declaration) in self.transactions.iter_mut().zip(declarations) {
            tx.reads = convert::keys_to_json(declaration.reads());
            tx.writes = convert::keys_to_json(declaration.writes());
        }
    }

    /// Reads a fixture file (gzip-compressed if its name ends in `.gz`).
    /// To execute a large block, [`LoadedFixture::load`] converts it while
    /// reading instead.
    pub fn load(path: &Path) -> Result<Self, FixtureError> {
        read(path, |fixture: &Self| fixture.version)
    }

    /// Parses fixture JSON; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, FixtureError> {
        // Check the version first, so a future format says so rather than
        // failing on some field it added.
        let versioned: Versioned = serde_json::from_str(text).map_err(|e| json_error(path, e))?;
        if !supported(versioned.version) {
            return Err(FixtureError::Version { path: path.into(), found: versioned.version });
        }
        serde_json::from_str(text).map_err(|e| json_error(path, e))
    }

    /// Writes the fixture as pretty JSON, gzip-compressed if the name ends
    /// in `.gz`.
    pub fn save(&self, path: &Path) -> Result<(), FixtureError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| FixtureError::Io { path: path.into(), message: e.to_string() })?;
        write(path, &(text + "\n"))
    }

    /// The block this fixture describes: genesis state, environment and
    /// transactions. `path` names the fixture in errors, and its folder is
    /// where the code file is.
    pub fn block(&self, path: &Path) -> Result<(State, BlockEnv, Vec<Transaction>), FixtureError> {
        let codes = self.codes.as_deref().map(|file| CodeFile::load(&codes::beside(path, file))).transpose()?;
        let env = convert::env_from_json(&self.env).map_err(|e| e.at(path))?;
        let mut state = State::new();
        for (address, account) in &self.genesis {
            let mut built = convert::account_from_json(*address, account).map_err(|e| e.at(path))?;
            if let Some(hash) = account.code_hash {
                built.code = Some(convert::shared_code(*address, &hash, codes.as_ref()).map_err(|e| e.at(path))?);
            }
            built.storage.extend(account.storage.iter().map(|(k, v)| (*k, *v)));
            state.insert_account(*address, built);
        }
        convert::block_hashes_into(&self.env, &mut state);
        let txs = self
            .transactions
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, tx)| convert::tx_from_json(i, tx).map_err(|e| e.at(path)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((state, env, txs))
    }

    /// Checks an executor's result on this fixture's block: the recorded
    /// outcome ([`compare`](Self::compare)), or the expected error.
    pub fn check(&self, result: &Result<BlockOutcome, VmError>, state: &State) -> Result<(), Mismatch> {
        let header = self.header_check();
        check::verdict(self.outcome.as_ref(), self.expected_error.as_deref(), header.as_ref(), result.as_ref(), state)
    }

    /// Compares `outcome` (of this fixture's block on `state`) with the
    /// recorded one: the first differing transaction and field, if any; and
    /// for a block of a real chain, its header's.
    pub fn compare(&self, outcome: &BlockOutcome, state: &State) -> Result<(), Mismatch> {
        let header = self.header_check();
        check::verdict(self.outcome.as_ref(), None, header.as_ref(), Ok(outcome), state)
    }

    /// What checking against the header takes, if there is one.
    fn header_check(&self) -> Option<HeaderCheck> {
        // A hardfork that does not parse never gets this far: `block`
        // refuses it, and there is no result to check.
        let spec = self.env.hardfork.parse().unwrap_or(SpecId::CANCUN);
        let types = self.transactions.iter().map(convert::tx_type_of).collect();
        self.header.as_ref().map(|header| HeaderCheck::new(header, spec, types))
    }
}
