//! A JSON-RPC node on loopback for the tests, answering from the shared mainnet fixtures:
//! blocks from `block.json`, the state after the parent block from `prestate.json` (absent
//! means empty, as the fixtures say), ancestor hashes from `block_hashes.json`, and the
//! prestateTracer by spreading each pre-state over the block's transactions, as a tracer
//! reports it: an account first where the fixture puts it, again in a later transaction with
//! other (post-transaction) values. [`Behaviour`] makes it slow, flaky or wrong.

use alloy_primitives::U256;
use parevm::sources::json::read_json;
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

/// How the test node behaves.
#[derive(Clone, Default)]
pub(crate) struct Behaviour {
    /// Serves `debug_traceBlockByNumber` with the prestateTracer.
    pub(crate) tracer: bool,
    /// Answers HTTP 503 to every n-th request.
    pub(crate) fail_every: Option<usize>,
    /// Answers HTTP 500 to everything but `eth_chainId`.
    pub(crate) always_500: bool,
    /// Waits this long before answering anything but `eth_chainId`.
    pub(crate) delay: Option<Duration>,
    /// Reports this chain id instead of 1.
    pub(crate) chain_id: Option<u64>,
    /// Serves blocks with a changed gas limit (their hash no longer matches).
    pub(crate) garbage_block: bool,
    /// Answers the prestateTracer with a string.
    pub(crate) garbage_trace: bool,
    /// Adds one to every nonce its prestateTracer reports.
    pub(crate) tamper_trace: bool,
    /// Refuses state reads that name their block by number, not by hash.
    pub(crate) by_hash_only: bool,
    /// Adds one to every nonce it serves.
    pub(crate) tamper: bool,
}

impl Behaviour {
    /// A node that serves the prestateTracer, and otherwise behaves.
    pub(crate) fn tracing() -> Behaviour {
        Behaviour {
            tracer: true,
            ..Behaviour::default()
        }
    }
}

/// One fixture block.
pub(crate) struct Fixture {
    block: Value,
    prestate: Value,
}

/// A JSON-RPC node on a loopback port, serving fixture blocks; stops when dropped.
///
/// A small HTTP/1.1 server of its own (keep-alive, Content-Length bodies, one write per
/// answer, TCP_NODELAY): tiny_http writes the head and a large body separately without
/// TCP_NODELAY, and each such answer then waits 40 ms for the client's delayed ACK.
pub(crate) struct Node {
    pub(crate) url: String,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) count: Arc<AtomicUsize>,
    pub(crate) peak: Arc<AtomicUsize>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

pub(crate) struct Data {
    blocks: BTreeMap<u64, Fixture>,
    hashes: BTreeMap<u64, String>,
}

impl Node {
    pub(crate) fn start(data: Arc<Data>, behaviour: Behaviour) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let (flag, counted) = (stop.clone(), count.clone());
        let (busy, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let peaked = peak.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (data, behaviour) = (data.clone(), behaviour.clone());
                let load = Load {
                    count: count.clone(),
                    busy: busy.clone(),
                    peak: peak.clone(),
                };
                std::thread::spawn(move || serve_connection(stream, &data, &behaviour, &load));
            }
        });
        Node {
            url,
            stop,
            count: counted,
            peak: peaked,
        }
    }

    /// The most requests it was answering at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Requests answered so far (failed ones included).
    pub(crate) fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Counters of a node's requests.
struct Load {
    count: Arc<AtomicUsize>,
    busy: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// Answers the requests of one connection until the client closes it.
fn serve_connection(stream: TcpStream, data: &Data, b: &Behaviour, load: &Load) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = load.count.fetch_add(1, Ordering::SeqCst) + 1;
        let now = load.busy.fetch_add(1, Ordering::SeqCst) + 1;
        load.peak.fetch_max(now, Ordering::SeqCst);
        let (status, text) = answer(&body, data, b, n);
        load.busy.fetch_sub(1, Ordering::SeqCst);
        let reason = if status == 200 { "OK" } else { "Error" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(body: &[u8], data: &Data, b: &Behaviour, n: usize) -> (u16, String) {
    let call: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let method = call["method"].as_str().unwrap_or_default().to_string();
    if b.fail_every.is_some_and(|k| n.is_multiple_of(k)) {
        return (503, "busy".to_string());
    }
    if method != "eth_chainId" && b.always_500 {
        return (500, "internal error".to_string());
    }
    if let Some(d) = b.delay.filter(|_| method != "eth_chainId") {
        std::thread::sleep(d);
    }
    let reply = match serve(&method, &call["params"], data, b) {
        Ok(v) => json!({"jsonrpc": "2.0", "id": call["id"], "result": v}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": code, "message": message}})
        }
    };
    (200, reply.to_string())
}

fn number(v: &Value) -> u64 {
    let s = v.as_str().expect("a hex block number");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

fn quantity(v: &Value) -> U256 {
    let s = v.as_str().expect("a hex quantity");
    U256::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

type Answer = Result<Value, (i64, String)>;

fn serve(method: &str, params: &Value, data: &Data, b: &Behaviour) -> Answer {
    match method {
        "eth_chainId" => Ok(format!("{:#x}", b.chain_id.unwrap_or(1)).into()),
        "eth_blockNumber" => Ok(format!("{:#x}", data.blocks.keys().last().unwrap()).into()),
        "eth_getBlockByNumber" => {
            let n = number(&params[0]);
            Ok(match (data.blocks.get(&n), params[1].as_bool()) {
                (Some(f), Some(true)) if b.garbage_block => {
                    let mut block = f.block.clone();
                    block["gasLimit"] = "0x1".into();
                    block
                }
                (Some(f), Some(true)) => f.block.clone(),
                (Some(f), _) => json!({"number": params[0], "hash": f.block["hash"]}),
                (None, Some(true)) => Value::Null,
                (None, _) => match data.hashes.get(&n) {
                    Some(h) => json!({"number": params[0], "hash": h}),
                    None => Value::Null,
                },
            })
        }
        "debug_traceBlockByNumber" if b.tracer => {
            let f = data
                .blocks
                .get(&number(&params[0]))
                .ok_or((-32000, "not found".into()))?;
            assert_eq!(params[1]["tracer"], "prestateTracer");
            if b.garbage_trace {
                return Ok("not a trace".into());
            }
            let mut t = trace(f);
            if b.tamper_trace {
                // Every account one transaction further on: the sender's nonce is off.
                for entry in t.as_array_mut().unwrap() {
                    for account in entry["result"].as_object_mut().unwrap().values_mut() {
                        account["nonce"] = (account["nonce"].as_u64().unwrap_or(0) + 1).into();
                    }
                }
            }
            Ok(t)
        }
        "eth_getBalance" | "eth_getTransactionCount" | "eth_getCode" | "eth_getStorageAt" => {
            let at = params.as_array().and_then(|p| p.last());
            if b.by_hash_only && at.and_then(Value::as_str).is_some_and(|s| s.len() < 66) {
                return Err((-32000, "this node wants block hashes".into()));
            }
            let f = state_after(at, data)?;
            let account = &f.prestate[params[0].as_str().unwrap().to_lowercase()];
            Ok(account_field(method, account, params, b))
        }
        _ => Err((
            -32601,
            format!("the method {method} does not exist/is not available"),
        )),
    }
}

/// The fixture whose pre-state is the state after block `at`: a number, or a hash as such or
/// as EIP-1898's `{"blockHash": h}` (the block whose parent hash is h).
fn state_after<'d>(at: Option<&Value>, data: &'d Data) -> Result<&'d Fixture, (i64, String)> {
    let found = match at {
        Some(Value::Object(o)) => {
            (data.blocks.values()).find(|f| f.block["parentHash"] == o["blockHash"])
        }
        // A block hash alone (EIP-1898 allows it in place of a number).
        Some(v @ Value::String(h)) if h.len() == 66 => {
            (data.blocks.values()).find(|f| f.block["parentHash"] == *v)
        }
        Some(v @ Value::String(_)) => data.blocks.get(&(number(v) + 1)),
        _ => None,
    };
    found.ok_or((-32000, format!("header not found for {at:?}")))
}

fn account_field(method: &str, account: &Value, params: &Value, b: &Behaviour) -> Value {
    match method {
        "eth_getBalance" => {
            let balance = account.get("balance").map_or(U256::ZERO, quantity);
            format!("{balance:#x}").into()
        }
        "eth_getTransactionCount" => {
            let nonce = account.get("nonce").and_then(Value::as_u64).unwrap_or(0);
            format!("{:#x}", nonce + u64::from(b.tamper)).into()
        }
        "eth_getCode" => account.get("code").cloned().unwrap_or("0x".into()),
        _ => {
            let slot = quantity(&params[1]);
            let found = account
                .get("storage")
                .and_then(|s| s.as_object())
                .and_then(|s| {
                    s.iter()
                        .find(|(k, _)| quantity(&Value::String((*k).clone())) == slot)
                        .map(|(_, v)| quantity(v))
                });
            format!("{:#066x}", found.unwrap_or_default()).into()
        }
    }
}

/// A prestateTracer answer whose first mentions are the fixture's pre-state: account i first
/// appears in transaction i mod n with half its slots, then in the next transaction with
/// altered balance, nonce and first-half slots (as they would be after the first) plus the
/// second half.
fn trace(f: &Fixture) -> Value {
    let txs = f.block["transactions"].as_array().unwrap().len();
    let mut results = vec![serde_json::Map::new(); txs];
    for (i, (address, account)) in f.prestate.as_object().unwrap().iter().enumerate() {
        let first = i % txs.max(1);
        let slots: Vec<(&String, &Value)> = account
            .get("storage")
            .and_then(|s| s.as_object())
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        let (early, late) = slots.split_at(slots.len() / 2);
        let mut head = account.clone();
        head["storage"] = early
            .iter()
            .map(|(k, v)| ((*k).clone(), (*v).clone()))
            .collect();
        results[first].insert(address.clone(), head);
        if first + 1 < txs {
            let mut later = account.clone();
            later["balance"] = format!(
                "{:#x}",
                account.get("balance").map_or(U256::ZERO, quantity) + U256::from(7)
            )
            .into();
            later["nonce"] = (account.get("nonce").and_then(Value::as_u64).unwrap_or(0) + 1).into();
            let mut storage: serde_json::Map<String, Value> = late
                .iter()
                .map(|(k, v)| ((*k).clone(), (*v).clone()))
                .collect();
            for (k, v) in early {
                storage.insert(
                    (*k).clone(),
                    format!("{:#066x}", quantity(v) ^ U256::from(1)).into(),
                );
            }
            later["storage"] = storage.into();
            results[first + 1].insert(address.clone(), later);
        } else {
            results[first][address]["storage"] =
                account.get("storage").cloned().unwrap_or(json!({}));
        }
    }
    results
        .into_iter()
        .map(|r| json!({"txHash": "0x00", "result": r}))
        .collect()
}

pub(crate) fn load(dir: &Path, numbers: &[u64]) -> Arc<Data> {
    let hashes = read_json(&dir.join("block_hashes.json")).unwrap();
    let mut hashes: BTreeMap<u64, String> = hashes
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_string()))
        .collect();
    let mut blocks = BTreeMap::new();
    for n in numbers {
        let folder = dir.join(n.to_string());
        let block = read_json(&folder.join("block.json")).unwrap();
        hashes.insert(*n, block["hash"].as_str().unwrap().to_string());
        let prestate = read_json(&folder.join("prestate.json")).unwrap();
        blocks.insert(*n, Fixture { block, prestate });
    }
    Arc::new(Data { blocks, hashes })
}
