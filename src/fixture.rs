//! Fixtures: a recorded block (environment, genesis, transactions with their
//! declared access) and the outcome the sequential executor produced, as
//! JSON in Ethereum's conventions: hex quantities and data, and
//! EIP-2930-style `{address, storageKeys}` access lists split into reads and
//! writes. The format is documented in `fixtures/README.md`.

use crate::vm::{
    AccessSet, Account, BlockEnv, BlockOutcome, Bytecode, Fee, Receipt, SpecId, State, StateKey, Status, Transaction,
    VmError,
};
use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

mod load;
mod stream;
pub use load::LoadedFixture;
pub use stream::StreamCheck;

/// The fixture format this build reads and writes.
pub const VERSION: u64 = 1;

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
    #[error("{path}: fixture version {found} is not supported (this build reads version {VERSION})")]
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
    /// Every account before the block.
    pub genesis: BTreeMap<Address, AccountJson>,
    /// The transactions, in block order.
    pub transactions: Vec<TxJson>,
    /// What the sequential executor produced, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeJson>,
    /// For a block that is invalid on purpose: the error every executor
    /// must fail it with (instead of an outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_error: Option<String>,
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

/// One recorded receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptJson {
    /// `success`, `revert`, `halt: <reason>` or `violation: <read|write> <key>`.
    pub status: String,
    /// Gas used.
    pub gas_used: U256,
    /// [`Receipt::logs_digest`].
    pub logs_digest: B256,
}

impl ReceiptJson {
    fn of(receipt: &Receipt) -> Self {
        let status = status_text(&receipt.status).into_owned();
        Self { status, gas_used: U256::from(receipt.gas_used), logs_digest: receipt.logs_digest() }
    }
}

/// A status as a fixture writes it; the common ones without allocating.
fn status_text(status: &Status) -> Cow<'static, str> {
    match status {
        Status::Success => "success".into(),
        Status::Revert => "revert".into(),
        Status::Halt(reason) => format!("halt: {reason:?}").into(),
        Status::AccessViolation { key, kind } => format!("violation: {kind} {key}").into(),
    }
}

/// Where a replay first disagrees with the recorded outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The transaction, or `None` for block-level fields.
    pub tx: Option<usize>,
    /// The field.
    pub field: &'static str,
    /// What the fixture recorded.
    pub expected: String,
    /// What the replay produced.
    pub found: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tx {
            Some(tx) => write!(f, "transaction {tx}: {}: expected {}, found {}", self.field, self.expected, self.found),
            None => write!(f, "{}: expected {}, found {}", self.field, self.expected, self.found),
        }
    }
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

fn keys_to_json(keys: &[StateKey]) -> Vec<AccessJson> {
    let mut by_address: BTreeMap<Address, AccessJson> = BTreeMap::new();
    for key in keys {
        let entry = by_address.entry(key.address()).or_insert_with(|| AccessJson {
            address: key.address(),
            account: false,
            storage_keys: Vec::new(),
        });
        match key {
            StateKey::Account(_) => entry.account = true,
            StateKey::Storage(_, slot) => entry.storage_keys.push(*slot),
        }
    }
    by_address.into_values().collect()
}

fn keys_from_json(entries: &[AccessJson]) -> Vec<StateKey> {
    // Sized exactly: a large block holds millions of these.
    let count = entries.iter().map(|e| usize::from(e.account) + e.storage_keys.len()).sum();
    let mut keys = Vec::with_capacity(count);
    for entry in entries {
        if entry.account {
            keys.push(StateKey::Account(entry.address));
        }
        keys.extend(entry.storage_keys.iter().map(|slot| StateKey::Storage(entry.address, *slot)));
    }
    keys
}

/// Reads a fixture file as `T`, whose format version `version` gives.
fn read<T: serde::de::DeserializeOwned>(path: &Path, version: impl Fn(&T) -> u64) -> Result<T, FixtureError> {
    // Streamed: a million-transaction fixture is gigabytes of JSON text,
    // which is never held in memory at once.
    let open = || -> Result<Box<dyn Read>, FixtureError> {
        let file = File::open(path).map_err(|e| FixtureError::Io { path: path.into(), message: e.to_string() })?;
        let file = BufReader::with_capacity(1 << 16, file);
        Ok(if is_gzip(path) { Box::new(BufReader::new(flate2::read::GzDecoder::new(file))) } else { Box::new(file) })
    };
    match serde_json::from_reader::<_, T>(open()?) {
        Ok(read) if version(&read) == VERSION => Ok(read),
        Ok(read) => Err(FixtureError::Version { path: path.into(), found: version(&read) }),
        // A future format should say so rather than fail on some field it
        // added: look for the version alone.
        Err(e) => Err(match serde_json::from_reader::<_, Versioned>(open()?) {
            Ok(v) if v.version != VERSION => FixtureError::Version { path: path.into(), found: v.version },
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

fn small(value: U256, location: impl FnOnce() -> String) -> Result<u64, Invalid> {
    u64::try_from(value).map_err(|_| Invalid { location: location(), message: format!("{value} does not fit 64 bits") })
}

fn fee(value: U256, location: impl FnOnce() -> String) -> Result<u128, Invalid> {
    u128::try_from(value)
        .map_err(|_| Invalid { location: location(), message: format!("{value} does not fit 128 bits") })
}

fn env_from_json(env: &EnvJson) -> Result<BlockEnv, Invalid> {
    let spec: SpecId = env.hardfork.parse().map_err(|_| Invalid {
        location: "env.hardfork".into(),
        message: format!("unknown hardfork {:?} (expected e.g. Cancun)", env.hardfork),
    })?;
    Ok(BlockEnv {
        number: small(env.number, || "env.number".into())?,
        timestamp: small(env.timestamp, || "env.timestamp".into())?,
        beneficiary: env.beneficiary,
        basefee: small(env.base_fee, || "env.baseFee".into())?,
        gas_limit: small(env.gas_limit, || "env.gasLimit".into())?,
        chain_id: small(env.chain_id, || "env.chainId".into())?,
        spec,
        prevrandao: env.prev_randao,
    })
}

/// A genesis account without its storage.
fn account_from_json(address: Address, balance: U256, nonce: U256, code: Bytes) -> Result<Account, Invalid> {
    let nonce = small(nonce, || format!("genesis[{address}].nonce"))?;
    let code = (!code.is_empty())
        .then(|| Bytecode::new_raw_checked(code))
        .transpose()
        .map_err(|e| Invalid { location: format!("genesis[{address}].code"), message: format!("{e:?}") })?;
    Ok(Account { balance, nonce, code, ..Account::default() })
}

/// Transaction `i`.
fn tx_from_json(i: usize, tx: TxJson) -> Result<Transaction, Invalid> {
    let at = |field: &str| format!("transactions[{i}].{field}");
    let fee = match (tx.gas_price, tx.max_fee_per_gas, tx.max_priority_fee_per_gas) {
        (Some(price), None, None) => Fee::Legacy { gas_price: fee(price, || at("gasPrice"))? },
        (None, Some(max), Some(priority)) => Fee::Dynamic {
            max_fee_per_gas: fee(max, || at("maxFeePerGas"))?,
            max_priority_fee_per_gas: fee(priority, || at("maxPriorityFeePerGas"))?,
        },
        _ => {
            return Err(Invalid {
                location: at("gasPrice"),
                message: "give either gasPrice, or both maxFeePerGas and maxPriorityFeePerGas".into(),
            });
        }
    };
    Ok(Transaction {
        from: tx.from,
        to: tx.to,
        value: tx.value,
        gas_limit: small(tx.gas, || at("gas"))?,
        fee,
        nonce: small(tx.nonce, || at("nonce"))?,
        access: AccessSet::new(keys_from_json(&tx.reads), keys_from_json(&tx.writes)),
        input: tx.input,
    })
}

impl Fixture {
    /// A fixture of a block on `state`, with `outcome` recorded if given.
    pub fn new(name: &str, state: &State, env: &BlockEnv, txs: &[Transaction], outcome: Option<&BlockOutcome>) -> Self {
        let genesis = state
            .accounts()
            .map(|(address, account)| {
                let code = account.code.as_ref().map(|c| c.original_bytes()).unwrap_or_default();
                let storage = account.storage.iter().map(|(k, v)| (*k, *v)).collect();
                (*address, AccountJson { balance: account.balance, nonce: U256::from(account.nonce), code, storage })
            })
            .collect();
        let transactions = txs
            .iter()
            .map(|tx| {
                let (gas_price, max_fee_per_gas, max_priority_fee_per_gas) = match tx.fee {
                    Fee::Legacy { gas_price } => (Some(U256::from(gas_price)), None, None),
                    Fee::Dynamic { max_fee_per_gas, max_priority_fee_per_gas } => {
                        (None, Some(U256::from(max_fee_per_gas)), Some(U256::from(max_priority_fee_per_gas)))
                    }
                };
                TxJson {
                    from: tx.from,
                    to: tx.to,
                    value: tx.value,
                    input: tx.input.clone(),
                    gas: U256::from(tx.gas_limit),
                    gas_price,
                    max_fee_per_gas,
                    max_priority_fee_per_gas,
                    nonce: U256::from(tx.nonce),
                    reads: keys_to_json(tx.access.reads()),
                    writes: keys_to_json(tx.access.writes()),
                }
            })
            .collect();
        let env_json = EnvJson {
            number: U256::from(env.number),
            timestamp: U256::from(env.timestamp),
            beneficiary: env.beneficiary,
            base_fee: U256::from(env.basefee),
            gas_limit: U256::from(env.gas_limit),
            chain_id: U256::from(env.chain_id),
            hardfork: <&'static str>::from(env.spec).to_string(),
            prev_randao: env.prevrandao,
        };
        let outcome = outcome.map(|o| OutcomeJson {
            receipts: o.receipts.iter().map(ReceiptJson::of).collect(),
            state_root: o.state_root(state),
        });
        Self {
            version: VERSION,
            name: name.to_string(),
            env: env_json,
            genesis,
            transactions,
            outcome,
            expected_error: None,
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
        if versioned.version != VERSION {
            return Err(FixtureError::Version { path: path.into(), found: versioned.version });
        }
        serde_json::from_str(text).map_err(|e| json_error(path, e))
    }

    /// Writes the fixture as pretty JSON, gzip-compressed if the name ends
    /// in `.gz`.
    pub fn save(&self, path: &Path) -> Result<(), FixtureError> {
        let io = |e: std::io::Error| FixtureError::Io { path: path.into(), message: e.to_string() };
        let text = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))? + "\n";
        if is_gzip(path) {
            let file = std::fs::File::create(path).map_err(io)?;
            let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::best());
            std::io::Write::write_all(&mut encoder, text.as_bytes()).map_err(io)?;
            encoder.finish().map_err(io)?;
            Ok(())
        } else {
            std::fs::write(path, text).map_err(io)
        }
    }

    /// The block this fixture describes: genesis state, environment and
    /// transactions. `path` names the fixture in errors.
    pub fn block(&self, path: &Path) -> Result<(State, BlockEnv, Vec<Transaction>), FixtureError> {
        self.convert(path, self.genesis.clone(), self.transactions.clone())
    }

    fn convert(
        &self,
        path: &Path,
        genesis: BTreeMap<Address, AccountJson>,
        transactions: Vec<TxJson>,
    ) -> Result<(State, BlockEnv, Vec<Transaction>), FixtureError> {
        let env = env_from_json(&self.env).map_err(|e| e.at(path))?;
        let mut state = State::new();
        // Consumed as converted: what is converted is freed.
        for (address, account) in genesis {
            let mut built =
                account_from_json(address, account.balance, account.nonce, account.code).map_err(|e| e.at(path))?;
            built.storage.extend(account.storage);
            state.insert_account(address, built);
        }
        let txs = transactions
            .into_iter()
            .enumerate()
            .map(|(i, tx)| tx_from_json(i, tx).map_err(|e| e.at(path)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((state, env, txs))
    }

    /// Checks an executor's result on this fixture's block: the recorded
    /// outcome ([`compare`](Self::compare)), or the expected error.
    pub fn check(&self, result: &Result<BlockOutcome, VmError>, state: &State) -> Result<(), Mismatch> {
        verdict(self.outcome.as_ref(), self.expected_error.as_deref(), result.as_ref(), state)
    }

    /// Compares `outcome` (of this fixture's block on `state`) with the
    /// recorded one: the first differing transaction and field, if any.
    pub fn compare(&self, outcome: &BlockOutcome, state: &State) -> Result<(), Mismatch> {
        verdict(self.outcome.as_ref(), None, Ok(outcome), state)
    }
}

/// Checks an executor's collected outcome (of the block on `state`), or its
/// error, against a recorded outcome or expected error.
fn verdict(
    recorded: Option<&OutcomeJson>,
    expected_error: Option<&str>,
    result: Result<&BlockOutcome, &VmError>,
    state: &State,
) -> Result<(), Mismatch> {
    check(recorded, expected_error, result, |recorded, outcome| compare(recorded, outcome, state))
}

/// Checks an executor's result against a recorded outcome (with
/// `compare`) or expected error.
fn check<T>(
    recorded: Option<&OutcomeJson>,
    expected_error: Option<&str>,
    result: Result<&T, &VmError>,
    compare: impl FnOnce(&OutcomeJson, &T) -> Result<(), Mismatch>,
) -> Result<(), Mismatch> {
    match (expected_error, result) {
        (Some(expected), Err(e)) if expected == e.to_string() => Ok(()),
        (Some(expected), Err(e)) => {
            Err(Mismatch { tx: None, field: "error", expected: expected.into(), found: e.to_string() })
        }
        (Some(expected), Ok(_)) => {
            Err(Mismatch { tx: None, field: "error", expected: expected.into(), found: "no error".into() })
        }
        (None, Ok(outcome)) => {
            let Some(recorded) = recorded else {
                return Err(Mismatch {
                    tx: None,
                    field: "outcome",
                    expected: "a recorded outcome".into(),
                    found: "none".into(),
                });
            };
            compare(recorded, outcome)
        }
        (None, Err(e)) => {
            Err(Mismatch { tx: None, field: "outcome", expected: "an outcome".into(), found: e.to_string() })
        }
    }
}

/// The first transaction and field where `outcome` differs from `recorded`.
fn compare(recorded: &OutcomeJson, outcome: &BlockOutcome, state: &State) -> Result<(), Mismatch> {
    same_count(recorded, outcome.receipts.len())?;
    for (i, (want, got)) in recorded.receipts.iter().zip(&outcome.receipts).enumerate() {
        same_receipt(i, want, got)?;
    }
    same_root(recorded, outcome.state_root(state))
}

/// Whether a run made as many receipts as `recorded` holds.
fn same_count(recorded: &OutcomeJson, receipts: usize) -> Result<(), Mismatch> {
    if recorded.receipts.len() == receipts {
        return Ok(());
    }
    Err(Mismatch {
        tx: None,
        field: "receipts",
        expected: recorded.receipts.len().to_string(),
        found: receipts.to_string(),
    })
}

/// The first field where transaction `i`'s receipt differs from the
/// recorded one.
fn same_receipt(i: usize, want: &ReceiptJson, got: &Receipt) -> Result<(), Mismatch> {
    // Compared as values; text only for a mismatch (a replay checks every
    // receipt of the block as it is made).
    let mismatch = |field, expected: String, found: String| Err(Mismatch { tx: Some(i), field, expected, found });
    let status = status_text(&got.status);
    if want.status != status {
        return mismatch("status", want.status.clone(), status.into_owned());
    }
    let gas = U256::from(got.gas_used);
    if want.gas_used != gas {
        return mismatch("gasUsed", want.gas_used.to_string(), gas.to_string());
    }
    let digest = got.logs_digest();
    if want.logs_digest != digest {
        return mismatch("logsDigest", want.logs_digest.to_string(), digest.to_string());
    }
    Ok(())
}

/// Whether the state root after a run is the recorded one.
fn same_root(recorded: &OutcomeJson, root: B256) -> Result<(), Mismatch> {
    if root == recorded.state_root {
        return Ok(());
    }
    Err(Mismatch { tx: None, field: "stateRoot", expected: recorded.state_root.to_string(), found: root.to_string() })
}
