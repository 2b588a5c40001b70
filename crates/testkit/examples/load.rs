//! Latency of one URL under concurrent clients, for `bench/scale.sh`:
//! `--clients` threads, each on its own keep-alive HTTP/1.1 connection,
//! send `--requests` GETs in all and print `p50 / p99` in milliseconds
//! (time from writing the request to the last byte of the body).
//!
//! It replaces a `curl` process per request, whose start-up (a few ms) was
//! most of what a small answer measured. Plain HTTP on loopback only.
//!
//!   load --url http://127.0.0.1:18801/apis/metrics.k8s.io/v1beta1/pods --clients 20 --requests 40
//!
//! With `--seconds S` the clients send requests for S seconds instead of a
//! count, and it prints `N requests, E errors, p50 X ms, p99 Y ms, max Z
//! ms` (`bench/load.sh`); any error makes it exit 1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// No request may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    let mut url = String::new();
    let mut clients = 20;
    let mut requests = 100;
    let mut accept_gzip = false;
    let mut seconds: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--url" => url = args.next().unwrap_or_default(),
            "--clients" => clients = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--requests" => requests = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--gzip" => accept_gzip = true,
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()),
            _ => usage(),
        }
    }
    let Some((host, path)) = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(host, path)| (host.to_owned(), format!("/{path}")))
    else {
        usage()
    };
    if clients == 0 || requests == 0 {
        usage();
    }

    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let limit = if deadline.is_some() {
        usize::MAX
    } else {
        requests
    };
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| worker(&host, &path, accept_gzip, limit, deadline, &next, &errors))
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let errors = errors.load(Ordering::Relaxed);
    if deadline.is_some() {
        if times.is_empty() {
            eprintln!("load: no request answered");
            std::process::exit(1);
        }
        times.sort();
        println!(
            "{} requests, {errors} errors, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            times.len() + errors,
            quantile_ms(&times, 0.50),
            quantile_ms(&times, 0.99),
            quantile_ms(&times, 1.0)
        );
        std::process::exit(i32::from(errors > 0));
    }
    if times.len() < requests {
        eprintln!("load: only {} of {requests} requests answered", times.len());
        std::process::exit(1);
    }
    times.sort();
    println!(
        "{:.1} / {:.1}",
        quantile_ms(&times, 0.50),
        quantile_ms(&times, 0.99)
    );
}

/// The `q` quantile of sorted, non-empty `times`, in milliseconds.
fn quantile_ms(times: &[Duration], q: f64) -> f64 {
    let rank = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len());
    times[rank - 1].as_secs_f64() * 1000.0
}

fn usage() -> ! {
    eprintln!(
        "usage: load --url http://HOST:PORT/PATH [--clients N] [--requests N | --seconds S] [--gzip]"
    );
    std::process::exit(2);
}

/// Takes requests from the shared count until all are sent (or the
/// deadline passes); the time of each answered one. Failures are counted
/// in `errors`.
fn worker(
    host: &str,
    path: &str,
    accept_gzip: bool,
    requests: usize,
    deadline: Option<Instant>,
    next: &AtomicUsize,
    errors: &AtomicUsize,
) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut connection: Option<BufReader<TcpStream>> = None;
    let mut body = Vec::new();
    while next.fetch_add(1, Ordering::Relaxed) < requests
        && deadline.is_none_or(|deadline| Instant::now() < deadline)
    {
        if connection.is_none() {
            connection = TcpStream::connect(host)
                .and_then(|stream| {
                    stream.set_read_timeout(Some(TIMEOUT))?;
                    stream.set_write_timeout(Some(TIMEOUT))?;
                    stream.set_nodelay(true)?;
                    Ok(BufReader::with_capacity(64 * 1024, stream))
                })
                .ok();
        }
        let Some(reader) = connection.as_mut() else {
            eprintln!("load: cannot connect to {host}");
            errors.fetch_add(1, Ordering::Relaxed);
            return times;
        };
        let started = Instant::now();
        match get(reader, host, path, accept_gzip, &mut body) {
            Ok(200) => times.push(started.elapsed()),
            Ok(status) => {
                eprintln!("load: HTTP {status} for {path}");
                errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                eprintln!("load: {error}");
                errors.fetch_add(1, Ordering::Relaxed);
                connection = None;
            }
        }
    }
    times
}

/// One GET on a keep-alive connection; the status.
fn get(
    reader: &mut BufReader<TcpStream>,
    host: &str,
    path: &str,
    accept_gzip: bool,
    body: &mut Vec<u8>,
) -> std::io::Result<u16> {
    let encoding = if accept_gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        reader.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n{encoding}\r\n"
    )?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    body.clear();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim_end(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            let start = body.len();
            body.resize(start + size + 2, 0);
            reader.read_exact(&mut body[start..])?;
            body.truncate(start + size);
            if size == 0 {
                break;
            }
        }
    } else {
        let length = length.ok_or_else(|| std::io::Error::other("an answer with no length"))?;
        body.resize(length, 0);
        reader.read_exact(body)?;
    }
    Ok(status)
}
