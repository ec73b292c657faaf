//! Recorded mainnet blocks in the layout of `../shared/mainnet`: a folder
//! with `blocks/<number>.json.gz` (each `{"block": …, "pre_state": …}`, the
//! block as `eth_getBlockByNumber(n, true)` answers and every account the
//! block touches as it was before it), `codes.json.gz` (code by hash) and
//! `block_hashes.json` (the hashes `BLOCKHASH` reads).
//!
//! A block read from it is ready to run: its pre-state, its environment
//! (the hardfork from the mainnet schedule, every header field a
//! transaction can observe, the block's withdrawals and ommers) and its
//! transactions, with nothing declared. The transactions are checked
//! against the header's transactions root as they are read.

use crate::envelope::transaction;
use crate::error::ImportError;
use crate::fork::{mainnet_blob_update_fraction, mainnet_spec};
use crate::receipts::{HeaderMismatch, ReceiptCommitments};
use alloy_consensus::TxEnvelope;
use alloy_eips::eip2935::{HISTORY_STORAGE_ADDRESS, HISTORY_STORAGE_CODE};
use alloy_eips::eip4788::{BEACON_ROOTS_ADDRESS, BEACON_ROOTS_CODE};
use alloy_eips::eip7002::{WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, WITHDRAWAL_REQUEST_PREDEPLOY_CODE};
use alloy_eips::eip7251::{CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_CODE};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use defivm_vm::{Account, BlockEnv, Bytecode, Ommer, SpecId, State, Transaction, Withdrawal};
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The chain the source's blocks are from.
const MAINNET: u64 = 1;

/// A folder of recorded mainnet blocks, with the code and block hashes
/// they share.
#[derive(Debug)]
pub struct MainnetSource {
    codes: HashMap<B256, Bytecode>,
    block_hashes: BTreeMap<u64, B256>,
}

/// One recorded block, ready to run.
#[derive(Debug, Clone)]
pub struct SourceBlock {
    /// The block's number.
    pub number: u64,
    /// The block's hash.
    pub hash: B256,
    /// Every account the block touches, as it was before it; and the hashes
    /// of the older blocks `BLOCKHASH` may read.
    pub state: State,
    /// The block environment.
    pub env: BlockEnv,
    /// The transactions, in block order, with nothing declared.
    pub txs: Vec<Transaction>,
    /// What the header commits to about the receipts.
    pub header: ReceiptCommitments,
}

impl MainnetSource {
    /// Opens the source `path` names: a folder holding `blocks/`, or one
    /// block file inside such a folder. Returns it and its block files, in
    /// block order.
    pub fn open(path: &Path) -> Result<(Self, Vec<PathBuf>), ImportError> {
        let (root, blocks) = if path.is_dir() {
            let dir = path.join("blocks");
            let entries = std::fs::read_dir(&dir).map_err(|e| ImportError::io(&dir, e))?;
            let mut files: Vec<(u64, PathBuf)> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter_map(|p| Some((block_number_of(&p)?, p)))
                .collect();
            files.sort();
            (path.to_path_buf(), files.into_iter().map(|(_, p)| p).collect())
        } else {
            let folder = path.parent().unwrap_or(Path::new("."));
            // `blocks/<number>.json.gz`: the shared files sit one level up.
            let root = if folder.ends_with("blocks") { folder.parent().unwrap_or(folder) } else { folder };
            (root.to_path_buf(), vec![path.to_path_buf()])
        };
        let codes_path = root.join("codes.json.gz");
        let raw: HashMap<B256, Bytes> = read_json(&codes_path)?;
        let codes = raw
            .into_par_iter()
            .map(|(hash, code)| {
                let actual = keccak256(&code);
                if actual != hash {
                    return Err(ImportError::CodeHash { path: codes_path.clone(), hash, actual });
                }
                let code = Bytecode::new_raw_checked(code).map_err(|e| ImportError::Json {
                    path: codes_path.clone(),
                    line: 0,
                    column: 0,
                    message: format!("the code filed under {hash} is not valid bytecode: {e:?}"),
                })?;
                Ok((hash, code))
            })
            .collect::<Result<_, _>>()?;
        let hashes_path = root.join("block_hashes.json");
        let hashes: BTreeMap<String, B256> = read_json(&hashes_path)?;
        let block_hashes = hashes
            .into_iter()
            .map(|(number, hash)| match number.parse::<u64>() {
                Ok(number) => Ok((number, hash)),
                Err(_) => Err(ImportError::Json {
                    path: hashes_path.clone(),
                    line: 0,
                    column: 0,
                    message: format!("{number:?} is not a block number"),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok((Self { codes, block_hashes }, blocks))
    }

    /// Reads the block file at `path`.
    pub fn block(&self, path: &Path) -> Result<SourceBlock, ImportError> {
        let file: BlockFile = read_json(path)?;
        let RpcBlock { header, transactions, uncles, withdrawals } = file.block;
        let hash = header.hash;
        let h = header.inner;
        let number = h.number;
        let spec = mainnet_spec(number, h.timestamp);
        let mut state = State::new();
        for (address, pre) in file.pre_state {
            let code = match pre.code_hash {
                Some(hash) if hash != defivm_vm::KECCAK_EMPTY => {
                    let code = self.codes.get(&hash).ok_or(ImportError::MissingCode {
                        block: number,
                        address,
                        code_hash: hash,
                    })?;
                    Some(code.clone())
                }
                _ => None,
            };
            let mut account = Account { balance: pre.balance, nonce: pre.nonce.0, code, ..Account::default() };
            account.storage.extend(pre.storage.into_iter().filter(|(_, v)| !v.is_zero()));
            state.insert_account(address, account);
        }
        add_system_contracts(&mut state, spec);
        for (&n, &hash) in self.block_hashes.range(number.saturating_sub(256)..number) {
            state.insert_block_hash(n, hash);
        }
        let mut txs = Vec::with_capacity(transactions.len());
        let mut envelopes = Vec::with_capacity(transactions.len());
        for (index, raw) in transactions.into_iter().enumerate() {
            let rpc = parse_transaction(number, index, raw)?;
            let (envelope, from) = (rpc.inner.inner(), rpc.inner.signer());
            txs.push(transaction(envelope, from));
            envelopes.push(envelope.clone());
        }
        let root = alloy_consensus::proofs::calculate_transaction_root(&envelopes);
        if root != h.transactions_root {
            let mismatch = HeaderMismatch {
                field: "transactionsRoot",
                expected: h.transactions_root.to_string(),
                computed: root.to_string(),
            };
            return Err(ImportError::Header { block: number, mismatch });
        }
        let env = BlockEnv {
            number,
            timestamp: h.timestamp,
            beneficiary: h.beneficiary,
            basefee: h.base_fee_per_gas.unwrap_or_default(),
            gas_limit: h.gas_limit,
            chain_id: MAINNET,
            spec,
            prevrandao: h.mix_hash,
            difficulty: h.difficulty,
            excess_blob_gas: h.excess_blob_gas.unwrap_or_default(),
            blob_base_fee_update_fraction: mainnet_blob_update_fraction(h.timestamp),
            parent_hash: Some(h.parent_hash),
            parent_beacon_block_root: h.parent_beacon_block_root,
            withdrawals: withdrawals.unwrap_or_default(),
            ommers: uncles.into_iter().map(|hash| Ommer { hash, header: None }).collect(),
        };
        let receipts_root = spec.is_enabled_in(SpecId::BYZANTIUM).then_some(h.receipts_root);
        let header = ReceiptCommitments { gas_used: h.gas_used, logs_bloom: h.logs_bloom, receipts_root };
        Ok(SourceBlock { number, hash, state, env, txs, header })
    }
}

/// The system contracts the block's own rules call, where its fork has
/// them and the pre-state, which lists only what transactions touched,
/// leaves them out: EIP-4788's beacon roots contract (Cancun on), and
/// EIP-2935's history contract and the EIP-7002 and EIP-7251 request
/// contracts (Prague on), with their code as deployed on mainnet before
/// those forks and no storage. What the calls before the transactions write
/// does not depend on what the contracts held; a request contract without
/// its queue reads as holding no requests.
fn add_system_contracts(state: &mut State, spec: SpecId) {
    let contracts = [
        (SpecId::CANCUN, BEACON_ROOTS_ADDRESS, &BEACON_ROOTS_CODE),
        (SpecId::PRAGUE, HISTORY_STORAGE_ADDRESS, &HISTORY_STORAGE_CODE),
        (SpecId::PRAGUE, WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, &WITHDRAWAL_REQUEST_PREDEPLOY_CODE),
        (SpecId::PRAGUE, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, &CONSOLIDATION_REQUEST_PREDEPLOY_CODE),
    ];
    for (fork, address, code) in contracts {
        if spec.is_enabled_in(fork) && state.account(&address).is_none() {
            let code = Some(Bytecode::new_raw(code.clone()));
            state.insert_account(address, Account { nonce: 1, code, ..Account::default() });
        }
    }
}

/// Transaction `index` of block `block`, as the RPC gives it.
fn parse_transaction(
    block: u64,
    index: usize,
    raw: serde_json::Value,
) -> Result<alloy_rpc_types_eth::Transaction<TxEnvelope>, ImportError> {
    let tx_type = raw.get("type").and_then(|t| t.as_str()).unwrap_or("0x0");
    let known = tx_type.strip_prefix("0x").and_then(|t| u8::from_str_radix(t, 16).ok()).is_some_and(|t| t <= 4);
    if !known {
        return Err(ImportError::UnknownTxType { block, index, tx_type: tx_type.to_string() });
    }
    serde_json::from_value(raw).map_err(|e| ImportError::Transaction { block, index, message: e.to_string() })
}

/// The number a block file is named for: `<number>.json.gz`.
fn block_number_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.strip_suffix(".json.gz")?.parse().ok()
}

/// Reads a JSON file, gzip-compressed if its name ends in `.gz`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ImportError> {
    let file = File::open(path).map_err(|e| ImportError::io(path, e))?;
    let file = BufReader::with_capacity(1 << 16, file);
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(file)
    };
    serde_json::from_reader(reader).map_err(|e| ImportError::json(path, e))
}

/// A block file.
#[derive(Deserialize)]
struct BlockFile {
    block: RpcBlock,
    pre_state: BTreeMap<Address, PreAccount>,
}

/// The block as the RPC gives it, transactions parsed one by one.
#[derive(Deserialize)]
struct RpcBlock {
    #[serde(flatten)]
    header: alloy_rpc_types_eth::Header,
    transactions: Vec<serde_json::Value>,
    #[serde(default)]
    uncles: Vec<B256>,
    #[serde(default)]
    withdrawals: Option<Vec<Withdrawal>>,
}

/// One account before the block.
#[derive(Deserialize)]
struct PreAccount {
    balance: U256,
    #[serde(default)]
    nonce: Nonce,
    #[serde(default)]
    code_hash: Option<B256>,
    #[serde(default)]
    storage: HashMap<U256, U256>,
}

/// A nonce as the files give it: a number, or a string holding one.
#[derive(Default)]
struct Nonce(u64);

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(deserializer)? {
            Either::Number(n) => Ok(Nonce(n)),
            Either::Text(text) => {
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed.map(Nonce).map_err(|_| serde::de::Error::custom(format!("{text:?} is not a nonce")))
            }
        }
    }
}
