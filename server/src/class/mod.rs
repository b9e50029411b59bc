//! Class mode (`cargo server lab --class LESSON`): the teacher's lab grades every student's
//! server itself and shows the whole class on one page, `/class`.
//!
//! ```text
//!  student: cargo client check echo --enroll http://TEACHER:8080 --nick 민지
//!      └─ POST /class/enroll {"nick", "addr"} ──> rules (networks, ports, nicknames, rate)
//!                                                  └─> queue ──> MAX_GRADINGS graders ──> board
//!  teacher: "grade all", and every --class-every seconds ──┘                              │
//!  GET /class (the page) <── GET /class/events (SSE: the whole board at each change) <────┘
//! ```
//!
//! A result on the board is what the teacher's machine measured with the same checks
//! `cargo client check` runs (a [`Grade`]), not what a student reports. The lab connects to
//! servers it did not write, thirty at a time; so the rules in [`rules`] say where it may
//! connect, only a few gradings run at once (the chat in the same lab stays quick), each grading
//! is bounded by the grader, and the page puts every name and every byte a server sent into
//! the document as text, never as markup.

mod board;
pub mod csv;
pub mod grade;
pub mod routes;
pub mod rules;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use std::{panic, thread};

use common::Shutdown;
use log::{info, warn};
use serde_json::json;

use board::{Stage, Student, MAX_STUDENTS};
pub use grade::{Checks, Grade, Mark, Verdict};
pub use routes::route;
use rules::{Networks, Rate};

/// Gradings at once. Each is a few connections and mostly waiting; four keep thirty students'
/// results coming within a minute while the chat, on the same two cores, stays quick.
pub const MAX_GRADINGS: usize = 4;
/// How often every student is graded again by default (`--class-every`).
pub const EVERY: Duration = Duration::from_secs(60);
/// Board updates a page may have waiting; a page that falls further behind is let go (its
/// browser reconnects and gets the whole board again).
pub const WATCH_BACKLOG: usize = 16;

/// How the teacher set the class up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The lesson whose checks are run (`echo`, `chat`, ...).
    pub lesson: String,
    /// Every student is graded again this often (`--class-every`).
    pub every: Duration,
    /// Where to append the CSV record (`--class-out`).
    pub out: Option<PathBuf>,
    /// Gradings at once.
    pub gradings: usize,
    /// Enrollments one machine may make per [`rules::ENROLL_WINDOW`].
    pub enrolls_per_window: usize,
}

impl Config {
    pub fn new(lesson: &str) -> Config {
        Config {
            lesson: lesson.to_string(),
            every: EVERY,
            out: None,
            gradings: MAX_GRADINGS,
            enrolls_per_window: rules::ENROLLS_PER_WINDOW,
        }
    }
}

/// The class: its students, the queue of gradings, and the pages watching.
pub struct Class {
    config: Config,
    checks: Vec<&'static str>,
    grade: Arc<dyn Grade>,
    networks: Networks,
    board: Mutex<Board>,
    wake: Condvar,
    watchers: Mutex<Vec<SyncSender<Arc<String>>>>,
    csv: Option<Mutex<csv::Log>>,
}

#[derive(Default)]
struct Board {
    students: Vec<Student>,
    /// Skeletons of the students waiting for a grader, in order.
    queue: std::collections::VecDeque<String>,
    rate: Rate,
    closed: bool,
}

impl Class {
    /// Opens the class and starts its graders and its timer, until `shutdown`.
    pub fn start(
        config: Config,
        grade: Arc<dyn Grade>,
        networks: Networks,
        shutdown: &Shutdown,
    ) -> Result<Arc<Class>, String> {
        let checks = grade.checks(&config.lesson).ok_or_else(|| {
            format!("no checks for {:?}: --class takes one of {}", config.lesson, grader::LESSONS.join(", "))
        })?;
        let csv = match &config.out {
            Some(path) => Some(Mutex::new(
                csv::Log::open(path)
                    .map_err(|e| format!("cannot open {} for the class record: {e}", path.display()))?,
            )),
            None => None,
        };
        let class = Arc::new(Class {
            config,
            checks,
            grade,
            networks,
            board: Mutex::default(),
            wake: Condvar::new(),
            watchers: Mutex::default(),
            csv,
        });
        for n in 0..class.config.gradings.max(1) {
            let class = class.clone();
            let spawned =
                thread::Builder::new().name(format!("grader {n}")).spawn(move || class.grade_queued());
            spawned.map_err(|e| format!("cannot start a grader thread: {e}"))?;
        }
        let (timer, every) = (class.clone(), class.config.every);
        let until = shutdown.clone();
        thread::Builder::new()
            .name("class timer".into())
            .spawn(move || {
                while !until.wait_timeout(every) {
                    timer.grade_all();
                }
            })
            .map_err(|e| format!("cannot start the class timer: {e}"))?;
        let closing = class.clone();
        shutdown.on_trigger(move || {
            closing.lock().closed = true;
            closing.wake.notify_all();
            closing.watchers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        });
        info!(
            "class mode: grading {} ({} checks), every {:?}",
            class.config.lesson,
            class.checks.len(),
            every
        );
        Ok(class)
    }

    pub fn lesson(&self) -> &str {
        &self.config.lesson
    }

    /// Enrolls `nick`'s server at `addr` (`PORT`, or `HOST:PORT`; loopback or no host means
    /// the machine the request came `from`), and queues its grading. `Ok` and `Err` are both the
    /// line to show the student.
    pub fn enroll(&self, nick: &str, addr: &str, from: IpAddr) -> Result<String, String> {
        // Every attempt counts, refused ones too: a script trying addresses is slowed as well.
        self.lock().rate.allow(from, self.config.enrolls_per_window)?;
        common::protocol::check_nick(nick)?;
        let addr = student_addr(addr, from)?;
        self.networks.admit(addr)?;
        let skeleton = crate::hub::skeleton(nick);
        let mut board = self.lock();
        if let Some(other) = board.students.iter().find(|s| s.addr == addr && s.skeleton != skeleton) {
            return Err(format!(
                "{addr} is already enrolled as {}: each server is one student's",
                other.nick
            ));
        }
        let full = board.students.len() >= MAX_STUDENTS;
        let line = match board.students.iter_mut().find(|s| s.skeleton == skeleton) {
            Some(student) if student.from != from => {
                return Err(format!(
                    "the nickname {} is taken (enrolled from another machine): pick another with --nick",
                    student.nick
                ))
            }
            Some(student) => {
                student.addr = addr;
                format!("{} enrolled again: the lab grades {addr} now", student.nick)
            }
            None if full => {
                return Err(format!("the class is full ({MAX_STUDENTS} students): ask your teacher"))
            }
            None => {
                board.students.push(Student::new(nick, skeleton.clone(), addr, from, self.checks.len()));
                format!("{nick} enrolled: the lab grades {addr} now")
            }
        };
        info!("class: {line} (from {from})");
        queue(&mut board, &skeleton);
        self.wake.notify_one();
        self.publish(&board);
        Ok(line)
    }

    /// Queues every student not already waiting; returns how many were queued.
    pub fn grade_all(&self) -> usize {
        let mut board = self.lock();
        let skeletons: Vec<String> = board.students.iter().map(|s| s.skeleton.clone()).collect();
        let queued = skeletons.iter().filter(|s| queue(&mut board, s)).count();
        self.wake.notify_all();
        self.publish(&board);
        queued
    }

    /// True when `ip` is this machine: the teacher's own browser or terminal.
    pub fn is_teacher(&self, ip: IpAddr) -> bool {
        self.networks.is_own(ip)
    }

    /// The whole board as JSON (what `/class/state` answers and every event carries).
    pub fn snapshot(&self) -> String {
        self.board_json(&self.lock())
    }

    /// A page's feed: the board now, then the board at each change.
    pub fn watch(&self) -> Receiver<Arc<String>> {
        let (sender, receiver) = sync_channel(WATCH_BACKLOG);
        let board = self.lock();
        // Under the board's lock: no change can slip between this first board and the feed.
        if !board.closed && sender.try_send(Arc::new(self.board_json(&board))).is_ok() {
            self.watchers.lock().unwrap_or_else(|p| p.into_inner()).push(sender);
        }
        receiver
    }

    /// A grader thread: takes the next queued student that no other grader holds (a server
    /// that serves one client at a time must not be graded twice at once), grades them, and
    /// records it; until closed.
    fn grade_queued(&self) {
        loop {
            let mut board = self.lock();
            let next = loop {
                if board.closed {
                    return;
                }
                let free =
                    |s: &String| board.students.iter().any(|t| t.skeleton == *s && t.stage != Stage::Grading);
                match board.queue.iter().position(free) {
                    Some(i) => break i,
                    None => board = self.wake.wait(board).unwrap_or_else(|p| p.into_inner()),
                }
            };
            let Some(skeleton) = board.queue.remove(next) else { continue };
            let Some(student) = board.students.iter_mut().find(|s| s.skeleton == skeleton) else { continue };
            student.stage = Stage::Grading;
            let addr = student.addr;
            self.publish(&board);
            drop(board);
            let result = self.grade_one(addr);
            let mut board = self.lock();
            let now = SystemTime::now();
            let waiting = board.queue.contains(&skeleton);
            if let Some(student) = board.students.iter_mut().find(|s| s.skeleton == skeleton) {
                // Moved to another port meanwhile: that grading is queued already; this one is stale.
                if student.addr == addr && student.record(result, &self.checks, now) {
                    self.write_record(student, now);
                }
                student.stage = if waiting { Stage::Queued } else { Stage::Done };
            }
            // A student this grader held may be next for another one.
            self.wake.notify_all();
            self.publish(&board);
        }
    }

    fn write_record(&self, student: &Student, now: SystemTime) {
        if let Some(csv) = &self.csv {
            if let Err(e) = csv.lock().unwrap_or_else(|p| p.into_inner()).append(student, now) {
                warn!("cannot write the class record: {e}");
            }
        }
    }

    /// One grading; a grader that panics is a line on the board, not a dead thread.
    fn grade_one(&self, addr: SocketAddr) -> Result<Vec<Verdict>, String> {
        let lesson = &self.config.lesson;
        panic::catch_unwind(panic::AssertUnwindSafe(|| self.grade.grade(lesson, addr)))
            .unwrap_or_else(|_| Err("the checker itself failed: tell your teacher".into()))
    }

    fn board_json(&self, board: &Board) -> String {
        let grading = board.students.iter().filter(|s| s.stage == Stage::Grading).count();
        json!({
            "lesson": self.config.lesson,
            "checks": self.checks,
            "every": self.config.every.as_secs(),
            "grading": grading,
            "students": board.students.iter().map(|s| s.json(&self.checks)).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// Sends the board to every page; a page that fell [`WATCH_BACKLOG`] behind is let go.
    fn publish(&self, board: &Board) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        if watchers.is_empty() {
            return;
        }
        let json = Arc::new(self.board_json(board));
        watchers.retain(|w| w.try_send(json.clone()).is_ok());
    }

    fn lock(&self) -> MutexGuard<'_, Board> {
        // A grader that panicked holding the lock left the board whole: keep going.
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Queues `skeleton` unless it is waiting already; true when queued.
fn queue(board: &mut Board, skeleton: &str) -> bool {
    if board.queue.iter().any(|s| s == skeleton) {
        return false;
    }
    board.queue.push_back(skeleton.to_string());
    student_stage(board, skeleton, Stage::Queued);
    true
}

fn student_stage(board: &mut Board, skeleton: &str, stage: Stage) {
    if let Some(student) =
        board.students.iter_mut().find(|s| s.skeleton == skeleton && s.stage != Stage::Grading)
    {
        student.stage = stage;
    }
}

/// Where a student's server is: `PORT` or `HOST:PORT`, with loopback or no host meaning the
/// machine the enrollment came `from`. Names are not looked up: an IP address, or the port only.
fn student_addr(given: &str, from: IpAddr) -> Result<SocketAddr, String> {
    let given = given.trim();
    if let Ok(port) = given.parse::<u16>() {
        return Ok(SocketAddr::new(from.to_canonical(), port));
    }
    let addr: SocketAddr = given.parse().map_err(|_| {
        format!("{given:?} is not PORT or IP:PORT: give the port your server listens on (7979), or its IP and port")
    })?;
    Ok(match addr.ip() {
        ip if ip.is_loopback() || ip.is_unspecified() => SocketAddr::new(from.to_canonical(), addr.port()),
        _ => addr,
    })
}

#[cfg(test)]
mod tests {
    use super::student_addr;

    #[test]
    fn a_port_or_a_loopback_address_means_the_students_own_machine() {
        let from = "192.168.1.77".parse().unwrap();
        for given in ["7979", "127.0.0.1:7979", "0.0.0.0:7979", " 7979 "] {
            assert_eq!(student_addr(given, from).unwrap(), "192.168.1.77:7979".parse().unwrap(), "{given}");
        }
        assert_eq!(student_addr("192.168.1.80:80", from).unwrap(), "192.168.1.80:80".parse().unwrap());
        assert!(student_addr("laptop.local:7979", from).is_err());
        assert!(student_addr("", from).is_err());
    }
}
