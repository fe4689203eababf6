//! Envelope seal/open (ChaCha20-Poly1305 + base64, WalletConnect type 0) at
//! 64 B, 256 B and 4 KiB, the raw AEAD alone, and session key agreements
//! (X25519 + HKDF-SHA256), measured with criterion.
//!
//! Run with `cargo bench -p heliograph-session --bench envelope`. After the
//! criterion groups, a full run (`--bench`, no filter) measures the same
//! operations again with a fixed 1 s budget each, runs `openssl speed` for the
//! same cipher and sizes on this machine in the same run, prints the ratios and
//! writes `bench/results/session.md`.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use heliograph_session::envelope::{Envelope, seal_type0};
use heliograph_session::{KeyPair, SymKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use ring::aead;

/// The raw AEAD under the envelope: `ring`'s ChaCha20-Poly1305 sealing a copy of `msg`.
fn raw_seal(key: &aead::LessSafeKey, msg: &[u8]) -> Vec<u8> {
    let mut buf = msg.to_vec();
    let nonce = aead::Nonce::assume_unique_for_key([1u8; 12]);
    key.seal_in_place_append_tag(nonce, aead::Aad::empty(), &mut buf).ok();
    buf
}

fn raw_key(key: &SymKey) -> aead::LessSafeKey {
    #[allow(clippy::expect_used)]
    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key.as_bytes()).expect("32-byte key"))
}

const SIZES: [usize; 3] = [64, 256, 4096];

fn message(len: usize) -> String {
    "x".repeat(len)
}

fn criterion_groups(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let key = SymKey::generate(&mut rng);
    let aead = raw_key(&key);
    let mut group = c.benchmark_group("envelope");
    for size in SIZES {
        let msg = message(size);
        let sealed = seal_type0(&key, &msg, &mut rng);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &msg, |b, msg| {
            b.iter(|| seal_type0(&key, black_box(msg), &mut rng))
        });
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, sealed| {
            b.iter(|| Envelope::decode(black_box(sealed)).and_then(|e| e.open(&key)))
        });
        group.bench_with_input(BenchmarkId::new("aead_seal", size), &msg, |b, msg| {
            b.iter(|| raw_seal(&aead, black_box(msg.as_bytes())))
        });
    }
    group.finish();

    let mine = KeyPair::generate(&mut rng);
    let peer = KeyPair::generate(&mut rng).public();
    c.bench_function("key_agreement/x25519_hkdf", |b| b.iter(|| mine.derive_sym_key(black_box(&peer))));
}

/// Median ns per call of `f` over five ~200 ms runs.
fn ns_per_op(mut f: impl FnMut()) -> f64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        (0..batch).for_each(|_| f());
        if start.elapsed() >= Duration::from_millis(20) {
            break;
        }
        batch *= 2;
    }
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < Duration::from_millis(200) {
                (0..batch).for_each(|_| f());
                n += batch;
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

/// ns per operation from `openssl speed -mr` output (`+R:<count>:<alg>:<seconds>`).
fn openssl(args: &[&str]) -> Option<f64> {
    // Options must come before the algorithm name; `-elapsed` makes OpenSSL divide by
    // wall-clock time like we do (its default is CPU time, which hides a busy machine).
    let out = Command::new("openssl").args(["speed", "-mr", "-elapsed"]).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text.lines().find(|l| l.starts_with("+R"))?;
    let parts: Vec<&str> = line.split(':').collect();
    let count: f64 = parts.get(1)?.parse().ok()?;
    let secs: f64 = parts.last()?.parse().ok()?;
    (count > 0.0).then(|| secs * 1e9 / count)
}

fn openssl_version() -> String {
    Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "openssl not found".into())
}

fn report() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let key = SymKey::generate(&mut rng);
    let aead = raw_key(&key);
    let mut md = String::from(
        "# session-protocol: envelope and key agreement benchmark\n\n\
         Written by `cargo bench -p heliograph-session --bench envelope` (bench profile, i.e. release \
         settings). Our figures are the median of five \
         200 ms runs; OpenSSL's come from `openssl speed -elapsed -bytes N -seconds 1 -evp chacha20-poly1305` \
         (and `-decrypt`; `-elapsed` = wall-clock like ours) run by the bench right after, on the same machine. Ratio = ours / OpenSSL \
         (above 1 means slower than OpenSSL).\n\n",
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    md += &format!(
        "Machine: {} cores, load average {load} at the start of the report (shared machine); {}\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        openssl_version()
    );
    md += "| operation | size | ours ns/op | ours MB/s | OpenSSL ns/op | ratio |\n|---|---:|---:|---:|---:|---:|\n";
    println!("\n{:<34} {:>6} {:>12} {:>12} {:>8}", "operation", "bytes", "ours ns/op", "openssl", "ratio");
    // Raw encrypt times at the smallest and largest size, ours and OpenSSL's, for a linear fit.
    let mut fit: Vec<(usize, f64, Option<f64>)> = Vec::new();
    for size in SIZES {
        let msg = message(size);
        let sealed = seal_type0(&key, &msg, &mut rng);
        let seal = ns_per_op(|| {
            black_box(seal_type0(&key, black_box(&msg), &mut rng));
        });
        let open = ns_per_op(|| {
            black_box(Envelope::decode(black_box(&sealed)).and_then(|e| e.open(&key)).ok());
        });
        let raw = ns_per_op(|| {
            black_box(raw_seal(&aead, black_box(msg.as_bytes())));
        });
        let bytes = size.to_string();
        let ossl_enc = openssl(&["-bytes", &bytes, "-seconds", "1", "-evp", "chacha20-poly1305"]);
        let ossl_dec = openssl(&["-decrypt", "-bytes", &bytes, "-seconds", "1", "-evp", "chacha20-poly1305"]);
        fit.push((size, raw, ossl_enc));
        for (name, ours, theirs) in [
            ("envelope seal (AEAD + base64)", seal, ossl_enc),
            ("envelope open (base64 + AEAD)", open, ossl_dec),
            ("raw ChaCha20-Poly1305 encrypt", raw, ossl_enc),
        ] {
            let (theirs_text, ratio) = match theirs {
                Some(t) => (format!("{t:.0}"), format!("{:.2}", ours / t)),
                None => ("n/a".to_owned(), "n/a".to_owned()),
            };
            println!("{name:<34} {size:>6} {ours:>12.0} {theirs_text:>12} {ratio:>8}");
            let mbps = size as f64 / ours * 1e3;
            md += &format!("| {name} | {size} | {ours:.0} | {mbps:.0} | {theirs_text} | {ratio} |\n");
        }
    }
    if let (Some((small, ours_small, theirs_small)), Some((large, ours_large, theirs_large))) =
        (fit.first().copied(), fit.last().copied())
    {
        // t(n) = fixed + n * per_byte through the two end points.
        let line = |a: f64, b: f64| {
            let per_byte = (b - a) / (large - small) as f64;
            (a - per_byte * small as f64, per_byte)
        };
        let (fixed, per_byte) = line(ours_small, ours_large);
        md += &format!(
            "\nLinear fit of raw encryption between {small} B and {large} B: ours {fixed:.0} ns per message + \
             {per_byte:.2} ns per byte"
        );
        if let (Some(a), Some(b)) = (theirs_small, theirs_large) {
            let (fixed, per_byte) = line(a, b);
            md += &format!("; OpenSSL {fixed:.0} ns per message + {per_byte:.2} ns per byte");
        }
        md += ".\n";
    }
    md += "\nNotes: both sides run assembly: OpenSSL its own, `ring` BoringSSL's (the envelope \
           moved to `ring` from RustCrypto's `chacha20poly1305` 0.10, which measured 18x OpenSSL's time \
           per 64-byte message here). The envelope adds base64 and the type byte / IV framing on top of \
           the raw AEAD. The machine is shared with other builds: single figures move by up to 2x between \
           runs, ratios measured back to back are steadier.\n";
    let mine = KeyPair::generate(&mut rng);
    let peer = KeyPair::generate(&mut rng).public();
    let agree = ns_per_op(|| {
        black_box(mine.derive_sym_key(black_box(&peer)).ok());
    });
    let ossl_x25519 = openssl(&["-seconds", "1", "ecdhx25519"]);
    let (theirs_text, ratio) = match ossl_x25519 {
        Some(t) => (format!("{t:.0}"), format!("{:.2}", agree / t)),
        None => ("n/a".to_owned(), "n/a".to_owned()),
    };
    println!("{:<34} {:>6} {agree:>12.0} {theirs_text:>12} {ratio:>8}", "key agreement (X25519 + HKDF)", "-");
    md += &format!(
        "\n| key agreement | ours ns/op | ours agreements/s | OpenSSL X25519 ns/op (`openssl speed ecdhx25519`, no HKDF) | ratio |\n\
         |---|---:|---:|---:|---:|\n| X25519 + HKDF-SHA256 (`derive_sym_key`) | {agree:.0} | {:.0} | {theirs_text} | {ratio} |\n",
        1e9 / agree
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results/session.md");
    match std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))
        .and_then(|()| std::fs::write(&path, md))
    {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut c = Criterion::default().configure_from_args();
    criterion_groups(&mut c);
    c.final_summary();
    // `cargo bench` passes `--bench`; a filter argument means a partial run.
    let filtered = args.iter().skip(1).any(|a| !a.starts_with('-'));
    if args.iter().any(|a| a == "--bench") && !filtered {
        report();
    }
}
