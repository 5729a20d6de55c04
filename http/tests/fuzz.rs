//! Fuzzing `handle`: every route's path with mangled parameters, random methods, keys in every
//! place (valid, broken, several), query strings and bodies of every kind. No panic; every answer
//! is JSON, and an error is a 4xx in the engine's error shape (never a 5xx for bad input).
//! `TL_FUZZ_CASES` sets the count (default 20,000).

use std::panic::{catch_unwind, AssertUnwindSafe};

use http::{Method, Request};
use serde_json::{json, Value};
use timeledger::Engine;
use timeledger_http::{handle, routes};

const MASTER: &str = "http-fuzz-master-key-001";

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

#[test]
fn fuzzed_requests_get_json_answers_and_no_panic() {
    let cases: usize = std::env::var("TL_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let seed = std::env::var("TL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_1234_abcd_ef01u64);
    println!("seed {seed}");
    let mut rng = Rng(seed | 1);
    let e = Engine::open(":memory:").unwrap();
    e.set_master_key(MASTER).unwrap();
    e.call("create_category", json!({"guild_id": 1, "name": "Dev"})).unwrap();
    let mut keys = vec![];
    for tier in ["SUPPORTER", "PREMIUM", "ENTERPRISE", "ADMIN"] {
        let k = e
            .call("generate_key", json!({"guild_id": 1, "admin_user_id": 2, "master_key": MASTER, "tier": tier}))
            .unwrap();
        keys.push(k["api_key"].as_str().unwrap().to_string());
    }
    let values =
        ["1", "0", "-1", "9223372036854775808", "abc", "%FF", "%00", "", "é", "ses_x", "1e3", "true", "..", "%2F"];
    let bodies = [
        "",
        "{}",
        "[]",
        "null",
        "{\"user_id\": 2, \"category\": \"Dev\"}",
        "{\"user_id\": \"2\", \"category\": \"dev\", \"switch\": true}",
        "{\"name\": \"Ops\"}",
        "{\"guild_id\": 1, \"admin_user_id\": 2, \"master_key\": \"http-fuzz-master-key-001\"}",
        "{\"user_id\": 2, \"category\": \"Dev\", \"start\": \"2026-01-01T00:00:00Z\", \"end\": \"2026-01-01T01:00:00Z\"}",
        "{\"user_id\": 1e400}",
        "{\"user_id\": [[[[[[1]]]]]]}",
        "{\"a\": ",
        "\u{feff}{}",
        "{\"tier\": \"ADMIN\"}",
    ];
    let (mut ok, mut refused) = (0usize, 0usize);
    for _ in 0..cases {
        let route = &routes()[rng.below(routes().len())];
        let path: String = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { rng.pick(&values).to_string() } else { s.to_string() })
            .collect::<Vec<_>>()
            .join("/");
        let path = if rng.below(10) == 0 { format!("{path}/extra") } else { path };
        let method =
            [Method::GET, Method::POST, Method::DELETE, Method::PUT, route.method.clone()][rng.below(5)].clone();
        let query = match rng.below(4) {
            0 => String::new(),
            1 => format!("?limit={}&timeframe={}", rng.pick(&values), rng.pick(&["week", "all", "x", ""])),
            2 => format!("?api_key={}&group_by=user,{}", keys[rng.below(4)], rng.pick(&["day", "bogus", ""])),
            _ => format!("?include_archived={}&_=1&page={}", rng.pick(&values), rng.pick(&values)),
        };
        let mut b = Request::builder().method(method).uri(format!("{path}{query}"));
        match rng.below(5) {
            0 => {}
            1 => b = b.header("X-API-Key", keys[rng.below(4)].as_str()),
            2 => b = b.header("Authorization", format!("Bearer {}", keys[rng.below(4)])),
            3 => b = b.header("Authorization", rng.pick(&["Basic !!!", "Basic Og==", "Token x", "Bearer "])),
            _ => b = b.header("X-API-Key", keys[0].as_str()).header("Authorization", format!("Bearer {}", keys[1])),
        }
        if rng.below(3) == 0 {
            b = b.header(
                "Content-Type",
                rng.pick(&["application/json", "text/plain", "application/json; charset=utf-8", ""]),
            );
        }
        let mut body = rng.pick(&bodies).as_bytes().to_vec();
        if rng.below(8) == 0 {
            body.push(0xff);
        }
        let Ok(req) = b.body(body) else { continue }; // a URI the http crate itself refuses
        let res = catch_unwind(AssertUnwindSafe(|| handle(&e, &req)))
            .unwrap_or_else(|_| panic!("panic on {} {}", req.method(), req.uri()));
        let status = res.status().as_u16();
        let v: Value =
            serde_json::from_slice(res.body()).unwrap_or_else(|_| panic!("not JSON: {} {}", req.method(), req.uri()));
        if status < 300 {
            ok += 1;
        } else {
            refused += 1;
            assert!((400..500).contains(&status), "{status} for {} {}: {v}", req.method(), req.uri());
            assert!(v["code"].is_string() && v["message"].is_string() && v["error"].is_string(), "{v}");
        }
    }
    println!("{cases} requests: {ok} answered 2xx, {refused} refused with a typed 4xx");
    assert!(ok > cases / 400, "the fuzzer must reach the routes' success paths too: {ok}");
}
