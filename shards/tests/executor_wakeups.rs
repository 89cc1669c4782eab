//! The vendored glommio keeps its reactor's timers and ring link armed across wake-ups
//! (vendor/glommio/PATCHED.md). These tests drive a parked executor through thousands of
//! short timers mixed with socket waits, the pattern of a paced load generator or a shard
//! between requests: every timer must still fire and every socket wait must still end.
//! A lost timer shows up as a hang, which the watchdog turns into a failure. The patch also
//! replaces the `membarrier` a parking executor issued with a fence paired with one on the
//! waking side; the last test has another thread wake a parked executor thousands of times.
//! (It checks that path end to end; the ordering race the fences close is too narrow to
//! reproduce here: without either fence it still passed 15 of 15 runs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::shared_channel;
use glommio::net::TcpStream;
use glommio::timer::Timer;
use glommio::LocalExecutorBuilder;

/// Longer than any healthy run by far; a lost wake-up parks the executor for good.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `body` on its own executor thread and fails if it does not finish in time.
fn run_with_watchdog<F>(name: &str, body: F)
where
    F: FnOnce() + Send + 'static,
{
    let (done, finished) = mpsc::channel();
    let name = name.to_owned();
    let worker = thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) => worker.join().unwrap(),
        Err(_) => panic!("{name}: the executor stopped waking up (hung for {WATCHDOG:?})"),
    }
}

/// An echo peer that answers each 64-byte message after a short, varying pause, so the
/// executor parks on the socket between answers.
fn start_echo_peer(messages: usize) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_nodelay(true).unwrap();
        let mut message = [0u8; 64];
        for i in 0..messages {
            if socket.read_exact(&mut message).is_err() {
                return;
            }
            thread::sleep(Duration::from_micros(50 + (i as u64 * 37) % 300));
            if socket.write_all(&message).is_err() {
                return;
            }
        }
    });
    addr
}

#[test]
fn short_timers_fire_while_sockets_wait() {
    const ROUNDS: usize = 3000;
    let addr = start_echo_peer(ROUNDS);
    run_with_watchdog("timers + sockets", move || {
        let executor = LocalExecutorBuilder::default().make().unwrap();
        executor.run(async move {
            let timers = glommio::spawn_local(async {
                let mut late = Duration::ZERO;
                for i in 0..ROUNDS {
                    let wait = Duration::from_micros(20 + (i as u64 * 53) % 400);
                    let start = Instant::now();
                    Timer::new(wait).await;
                    late = late.max(start.elapsed().saturating_sub(wait));
                }
                late
            });
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut message = [7u8; 64];
            for round in 0..ROUNDS {
                message[0] = round as u8;
                stream.write_all(&message).await.unwrap();
                let mut answer = [0u8; 64];
                stream.read_exact(&mut answer).await.unwrap();
                assert_eq!(answer, message, "round {round}");
            }
            let late = timers.await;
            // Generous: this only has to tell "fired" from "waited for an unrelated event".
            assert!(late < Duration::from_secs(5), "a timer fired {late:?} late");
        });
    });
}

#[test]
fn a_parked_executor_wakes_for_each_timer_alone() {
    run_with_watchdog("timers only", || {
        let executor = LocalExecutorBuilder::default().make().unwrap();
        executor.run(async {
            // Deadlines on both sides of glommio's 100 ms preemption period.
            for i in 0..400u64 {
                Timer::new(Duration::from_micros(10 + (i * 7919) % 3000)).await;
            }
            for _ in 0..3 {
                let start = Instant::now();
                Timer::new(Duration::from_millis(150)).await;
                assert!(start.elapsed() >= Duration::from_millis(150));
            }
        });
    });
}

#[test]
fn a_parked_executor_wakes_for_each_message_from_another_thread() {
    const MESSAGES: u64 = 5000;
    let (sender, receiver) = shared_channel::new_bounded::<u64>(4);
    let producer = thread::spawn(move || {
        let executor = LocalExecutorBuilder::default().make().unwrap();
        executor.run(async move {
            let sender = sender.connect().await;
            for i in 0..MESSAGES {
                // Pauses of 0-200 µs: the consumer is parked for most messages, and
                // sometimes still going to sleep when the next one arrives.
                if i % 3 != 0 {
                    Timer::new(Duration::from_micros((i * 7919) % 200)).await;
                }
                sender.send(i).await.unwrap();
            }
        });
    });
    run_with_watchdog("foreign wake-ups", move || {
        let executor = LocalExecutorBuilder::default().make().unwrap();
        executor.run(async move {
            let receiver = receiver.connect().await;
            for expected in 0..MESSAGES {
                assert_eq!(receiver.recv().await, Some(expected));
            }
        });
    });
    producer.join().unwrap();
}
