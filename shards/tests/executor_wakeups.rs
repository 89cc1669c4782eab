//! The vendored glommio keeps its reactor's timers and ring link armed across wake-ups
//! (vendor/glommio/PATCHED.md). These tests drive a parked executor through thousands of
//! short timers mixed with socket waits, the pattern of a paced load generator or a shard
//! between requests: every timer must still fire and every socket wait must still end.
//! A lost timer shows up as a hang, which the watchdog turns into a failure. The patch also
//! replaces the `membarrier` a parking executor issued with a fence paired with one on the
//! waking side; the last test has another thread wake a parked executor thousands of times,
//! with nothing else to wake it, so a lost wake-up fails it (see its doc for what it catches).
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

/// No message may wait this long: far past any scheduling noise, far short of the consumer's
/// preemption timer below, whose firing would otherwise mask a lost wake-up.
const MESSAGE_WAIT_MAX: Duration = Duration::from_secs(10);

/// Scenario: another thread sends 5000 messages through a shared channel with pauses of
/// 0-200 µs, so the consumer is parked for most of them and sometimes still going to sleep
/// when the next one arrives. The consumer's preemption timer is 60 s, so nothing but the
/// sender's notification can wake it, and a test hook of the vendored glommio makes the
/// consumer pause before it announces that it sleeps, so most messages land in the window
/// that its last look at its channels exists for. Guarantee: every message arrives, in order,
/// each within [`MESSAGE_WAIT_MAX`]. A lost wake-up (a sender that skips the eventfd write, or
/// a sleeper that skips its last look after saying it sleeps) parks the consumer for good:
/// with glommio's default 100 ms timer it would only have slowed the test. Checked by
/// removing the last look in `Reactor::wait`: the test then fails. (The memory
/// ordering between the two sides, the fences of the patch, cannot be made to fail on this
/// hardware by any test; vendor/glommio/PATCHED.md gives the argument.)
#[test]
fn a_parked_executor_wakes_for_each_message_from_another_thread() {
    const MESSAGES: u64 = 5000;
    let (sender, receiver) = shared_channel::new_bounded::<u64>(4);
    let producer = thread::spawn(move || {
        let executor = LocalExecutorBuilder::default().make().unwrap();
        executor.run(async move {
            let sender = sender.connect().await;
            for i in 0..MESSAGES {
                if i % 3 != 0 {
                    Timer::new(Duration::from_micros((i * 7919) % 200)).await;
                }
                if sender.send(i).await.is_err() {
                    return;
                }
            }
        });
    });
    run_with_watchdog("foreign wake-ups", move || {
        let executor = LocalExecutorBuilder::default()
            .preempt_timer(Duration::from_secs(60))
            .make()
            .unwrap();
        // Every decision to sleep waits 300 µs before it is announced: most messages are
        // sent in that window, and only the last look at the channels can see them.
        glommio::shardgate_test_hooks::set_pause_before_sleep(Duration::from_micros(300));
        executor.run(async move {
            let receiver = receiver.connect().await;
            for expected in 0..MESSAGES {
                let started = Instant::now();
                let got =
                    glommio::timer::timeout(MESSAGE_WAIT_MAX, async { Ok(receiver.recv().await) })
                        .await;
                match got {
                    Ok(message) => assert_eq!(message, Some(expected)),
                    Err(_) => panic!(
                        "message {expected} not received within {:?}: a lost wake-up",
                        started.elapsed()
                    ),
                }
            }
        });
    });
    producer.join().unwrap();
}
