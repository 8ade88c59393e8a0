//! The library's own call, with no Python in between: for bench/python.py,
//! which runs it in the same rounds as the Python calls it compares, to tell
//! the binding's share of a call from the engine's.
//!
//! Usage: engine_call <connector> <endpoint> <calls>   (keys and state as the
//! CLI finds them); prints the seconds per call.

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, connector, endpoint, calls] = args.as_slice() else {
        anyhow::bail!("usage: engine_call <connector> <endpoint> <calls>");
    };
    let calls: usize = calls.parse()?;
    let jongler = jongler::Jongler::connect(connector, jongler::Options::default())?;
    let call = |i: usize| {
        let body = serde_json::json!({"contents": [{"parts": [{"text": format!("call {i}")}]}]});
        jongler.request_json(endpoint, &body)
    };
    for i in 0..20 {
        call(i)?;
    }
    let start = Instant::now();
    for i in 0..calls {
        call(i)?;
    }
    println!("{}", start.elapsed().as_secs_f64() / calls as f64);
    Ok(())
}
