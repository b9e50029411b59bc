//! Class mode (`cargo server lab --class`): enrollment and its rules, the board, its live feed
//! and its CSV, with a small fake grader and small fake student servers. (The real checks
//! against thirty real servers are in `class_room.rs`.)

#[path = "support/class.rs"]
mod class;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use class::{class_lab, enroll, enroll_from, graded, outcomes, request, row, state, Events};
use server::class::{Config, Grade, Mark, Verdict};

/// Grades "echo-lite": does the server answer, and does it echo `hi`? Counts gradings at once.
#[derive(Default)]
struct Fake {
    now: AtomicUsize,
    most: AtomicUsize,
    graded: Mutex<Vec<SocketAddr>>,
}

const CHECKS: [&str; 2] = ["it answers", "it echoes"];
/// What the fake grader says it got from a wrong server: words a page must show as text.
const MARKUP: &str = r#"got <img src=x onerror="window.pwned=1">"#;

impl Grade for Fake {
    fn checks(&self, lesson: &str) -> Option<Vec<&'static str>> {
        (lesson == "echo-lite").then(|| CHECKS.to_vec())
    }

    fn grade(&self, _lesson: &str, addr: SocketAddr) -> Result<Vec<Verdict>, String> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        self.graded.lock().unwrap().push(addr);
        let result = fake_checks(addr);
        self.now.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

fn fake_checks(addr: SocketAddr) -> Result<Vec<Verdict>, String> {
    let fail = |check, what: &str, hint| Verdict { check, mark: Mark::Fail { what: what.into(), hint } };
    let (pass, skip) =
        (|check| Verdict { check, mark: Mark::Pass }, |check| Verdict { check, mark: Mark::Skip });
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|_| format!("no server at {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let _ = stream.write_all(b"hi\n");
    let mut got = [0u8; 64];
    let n = stream.read(&mut got).unwrap_or(0);
    Ok(match &got[..n] {
        b"" => vec![fail(CHECKS[0], "got nothing", "answer"), skip(CHECKS[1])],
        b"hi\n" => vec![pass(CHECKS[0]), pass(CHECKS[1])],
        _ => vec![pass(CHECKS[0]), fail(CHECKS[1], MARKUP, "send back what you read")],
    })
}

/// A student's server: echoes while `correct`, answers `nope` otherwise; stops when dropped.
struct Student {
    addr: SocketAddr,
    correct: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Student {
    fn start(correct: bool) -> Student {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (correct, stop) = (Arc::new(AtomicBool::new(correct)), Arc::new(AtomicBool::new(false)));
        let (serving, stopping) = (correct.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let correct = serving.load(Ordering::SeqCst);
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut got = [0u8; 64];
                    let n = stream.read(&mut got).unwrap_or(0);
                    let _ = stream.write_all(if correct { &got[..n] } else { b"nope\n" });
                });
            }
        });
        Student { addr, correct, stop }
    }
}

impl Drop for Student {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept
    }
}

fn config(gradings: usize) -> Config {
    Config { gradings, every: Duration::from_secs(3600), ..Config::new("echo-lite") }
}

#[test]
fn enrolled_servers_are_graded_and_the_board_follows_live_as_one_is_fixed() {
    let fake = Arc::new(Fake::default());
    let (lab, _) = class_lab(config(2), fake.clone());
    let (good, wrong) = (Student::start(true), Student::start(false));
    let mut events = Events::open(lab.addr);
    let first =
        events.until(support::DEADLINE, "the empty board", |b| b["students"] == serde_json::json!([]));
    assert_eq!(first["checks"], serde_json::json!(CHECKS));
    assert_eq!(first["lesson"], "echo-lite");

    let (status, line) = enroll(lab.addr, "민지", &good.addr.port().to_string());
    assert_eq!(
        (status, line.as_str()),
        (200, format!("민지 enrolled: the lab grades {} now", good.addr).as_str())
    );
    let (status, line) = enroll(lab.addr, "철수", &wrong.addr.to_string());
    assert_eq!(status, 200, "{line}");
    let limit = Duration::from_secs(20);
    let board = events.until(limit, "both graded", |b| graded(b, "민지") && graded(b, "철수"));
    assert_eq!(outcomes(&board, "민지"), ["PASS", "PASS"]);
    assert_eq!(outcomes(&board, "철수"), ["PASS", "FAIL"]);
    let wrong_row = row(&board, "철수").unwrap();
    assert_eq!(wrong_row["cells"][1]["hint"], "send back what you read");
    assert!(wrong_row["cells"][1]["first_green"].is_null());
    assert!(wrong_row["cells"][0]["first_green"].is_u64());
    let changed = wrong_row["changed"].as_u64().unwrap();

    // The student fixes the server; the teacher clicks "grade all".
    wrong.correct.store(true, Ordering::SeqCst);
    let (status, answer) = request(lab.addr, "POST", "/class/grade", "{}", "");
    assert_eq!(status, 200, "{answer}");
    let board =
        events.until(limit, "철수 fixed", |b| outcomes(b, "철수") == ["PASS", "PASS"] && graded(b, "철수"));
    let fixed = row(&board, "철수").unwrap();
    assert!(fixed["changed"].as_u64().unwrap() >= changed);
    assert!(fixed["cells"][1]["first_green"].is_u64());
    // No server was graded by two graders at once, and never more than two ran.
    assert!(fake.most.load(Ordering::SeqCst) <= 2);
}

#[test]
fn gradings_run_a_few_at_a_time() {
    let fake = Arc::new(Fake::default());
    let (lab, _) = class_lab(Config { enrolls_per_window: 100, ..config(3) }, fake.clone());
    let students: Vec<Student> = (0..12).map(|_| Student::start(true)).collect();
    let mut events = Events::open(lab.addr);
    for (i, student) in students.iter().enumerate() {
        let (status, line) = enroll(lab.addr, &format!("s{i}"), &student.addr.to_string());
        assert_eq!(status, 200, "{line}");
    }
    events.until(Duration::from_secs(30), "all graded", |b| (0..12).all(|i| graded(b, &format!("s{i}"))));
    assert!(fake.most.load(Ordering::SeqCst) <= 3, "{} at once", fake.most.load(Ordering::SeqCst));
    assert_eq!(fake.graded.lock().unwrap().len(), 12);
}

#[test]
fn refusals_each_get_a_clear_line() {
    let (lab, tcp) = class_lab(Config { enrolls_per_window: 100, ..config(1) }, Arc::new(Fake::default()));
    let student = Student::start(true);
    let port = student.addr.port().to_string();
    // A host outside the networks: this lab is bound to loopback.
    let (status, line) = enroll(lab.addr, "민지", "8.8.8.8:53");
    assert_eq!(status, 400);
    assert!(line.contains("8.8.8.8 is not on a network this lab serves (loopback)"), "{line}");
    // The lab's own ports, the web side and the TCP chat.
    for own in [lab.addr, tcp] {
        let (status, line) = enroll(lab.addr, "민지", &own.to_string());
        assert_eq!(status, 400);
        assert!(line.contains("is the lab itself"), "{line}");
    }
    // An address enrolled twice, under another nickname; the same nickname again is a regrade.
    assert_eq!(enroll(lab.addr, "민지", &port).0, 200);
    let (status, line) = enroll(lab.addr, "mallory", &port);
    assert_eq!(status, 400);
    assert_eq!(line, format!("{} is already enrolled as 민지: each server is one student's", student.addr));
    // Look-alike nicknames are one nickname: the Cyrillic `а` in `аlice`, capitals.
    assert_eq!(enroll(lab.addr, "alice", "127.0.0.1:9").0, 200);
    let (status, line) = enroll(lab.addr, "ALICE", "127.0.0.1:9");
    assert_eq!((status, line.as_str()), (200, "alice enrolled again: the lab grades 127.0.0.1:9 now"));
    let (status, line) = enroll(lab.addr, "민지", &port);
    assert_eq!(
        (status, line.as_str()),
        (200, format!("민지 enrolled again: the lab grades {} now", student.addr).as_str())
    );
    // From another machine (127.0.0.2, as the lab sees it): its own port, but a nickname taken.
    let other = Some([127, 0, 0, 2].into());
    let (status, line) = enroll_from(lab.addr, other, "민지", "7979");
    assert_eq!(status, 400);
    assert_eq!(line, "the nickname 민지 is taken (enrolled from another machine): pick another with --nick");
    let (status, line) = enroll_from(lab.addr, other, "영희", "7979");
    assert_eq!((status, line.as_str()), (200, "영희 enrolled: the lab grades 127.0.0.2:7979 now"));
    // Names that are not nicknames, and addresses that are not addresses.
    let (status, line) = enroll(lab.addr, "<b>x</b>", &port);
    assert_eq!(status, 400);
    assert!(line.starts_with("a nickname may hold letters"), "{line}");
    let (status, line) = enroll(lab.addr, "bob", "laptop.local:7979");
    assert_eq!(status, 400);
    assert!(line.contains("is not PORT or IP:PORT"), "{line}");
    assert_eq!(state(lab.addr)["students"].as_array().unwrap().len(), 3);
}

#[test]
fn enrollment_is_rate_limited_per_machine() {
    let (lab, _) = class_lab(Config { enrolls_per_window: 3, ..config(1) }, Arc::new(Fake::default()));
    for i in 0..3 {
        assert_eq!(enroll(lab.addr, &format!("s{i}"), &format!("{}", 20000 + i)).0, 200);
    }
    let (status, line) = enroll(lab.addr, "s9", "20009");
    assert_eq!(status, 400);
    assert!(line.starts_with("3 enrollments from 127.0.0.1 in 60s already: try again in"), "{line}");
}

#[test]
fn the_http_layers_origin_and_host_rules_apply() {
    let (lab, _) = class_lab(config(1), Arc::new(Fake::default()));
    let body = r#"{"nick": "eve", "addr": "7979"}"#;
    // Another site's page posting as a student's browser (CSRF).
    let (status, _) = request(lab.addr, "POST", "/class/enroll", body, "Origin: https://evil.example\r\n");
    assert_eq!(status, 403);
    // Our own page may.
    let own = format!("Origin: http://{}\r\n", lab.addr);
    assert_eq!(request(lab.addr, "POST", "/class/enroll", body, &own).0, 200);
    // A form (text/plain) is not JSON: a cross-site "simple" POST cannot enroll.
    let mut stream = TcpStream::connect(lab.addr).unwrap();
    let raw = format!(
        "POST /class/enroll HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        lab.addr,
        body.len()
    );
    stream.write_all(raw.as_bytes()).unwrap();
    stream.set_read_timeout(Some(support::DEADLINE)).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    // A rebinding page's Host.
    let mut stream = TcpStream::connect(lab.addr).unwrap();
    stream.write_all(b"GET /class/state HTTP/1.1\r\nHost: evil.example\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(support::DEADLINE)).unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 421");
}

#[test]
fn the_page_writes_text_never_markup_and_forbids_inline_scripts() {
    let (lab, _) = class_lab(config(1), Arc::new(Fake::default()));
    let mut stream = TcpStream::connect(lab.addr).unwrap();
    write!(stream, "GET /class HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", lab.addr).unwrap();
    stream.set_read_timeout(Some(support::DEADLINE)).unwrap();
    let mut page = String::new();
    let _ = stream.read_to_string(&mut page);
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("Content-Security-Policy: default-src 'self'; script-src 'self';"), "{page}");
    assert!(page.contains(r#"<script src="/class/page.js"></script>"#));
    let script = server::class::routes::SCRIPT;
    for markup in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
        assert!(!script.contains(markup), "the page's script uses {markup}");
    }
    let (status, _) = request(lab.addr, "GET", "/class/page.js", "", "");
    assert_eq!(status, 200);
}

#[test]
fn without_class_mode_the_scoreboard_says_how_to_start_it() {
    let (lab, _) = support::lab(Default::default(), Default::default());
    let (status, body) = request(lab.addr, "GET", "/class", "", "");
    assert_eq!(status, 404);
    assert!(body.contains("class mode is off: the teacher starts the lab with --class LESSON"), "{body}");
}

#[test]
fn class_out_keeps_a_row_per_check_when_a_result_changes() {
    let dir = std::env::temp_dir().join(format!("class-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("class.csv");
    let _ = std::fs::remove_file(&out);
    let config = Config { out: Some(out.clone()), ..config(1) };
    let (lab, _) = class_lab(config, Arc::new(Fake::default()));
    let student = Student::start(false);
    let mut events = Events::open(lab.addr);
    assert_eq!(enroll(lab.addr, "민지", &student.addr.to_string()).0, 200);
    events.until(Duration::from_secs(20), "graded", |b| graded(b, "민지"));
    // The same result again adds nothing; a changed one adds its rows.
    assert_eq!(request(lab.addr, "POST", "/class/grade", "{}", "").0, 200);
    events.until(Duration::from_secs(20), "graded again", |b| graded(b, "민지") && b["grading"] == 0);
    student.correct.store(true, Ordering::SeqCst);
    assert_eq!(request(lab.addr, "POST", "/class/grade", "{}", "").0, 200);
    events.until(Duration::from_secs(20), "fixed", |b| {
        outcomes(b, "민지") == ["PASS", "PASS"] && graded(b, "민지")
    });
    drop(lab);
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], server::class::csv::HEADER);
    assert_eq!(lines.len(), 5, "{csv}");
    let addr = student.addr;
    assert!(
        lines[2].ends_with(&format!(
            r#","민지","{addr}","it echoes","FAIL","got <img src=x onerror=""window.pwned=1"">","send back what you read""#
        )),
        "{csv}"
    );
    assert!(lines[4].ends_with(&format!(r#","민지","{addr}","it echoes","PASS","","""#)), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_student_enrolls_from_the_terminal_and_reads_what_the_lab_measured() {
    let (lab, tcp) = class_lab(config(1), Arc::new(Fake::default()));
    let (good, wrong) = (Student::start(true), Student::start(false));
    let url = format!("http://{}", lab.addr);
    let run = |nick: &str, addr: &str| {
        let args = ["check", "echo-lite", "--enroll", &url, "--nick", nick, "--addr", addr];
        let out = support::run_client(&args, b"");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run("민지", &good.addr.to_string());
    assert!(ok, "{stdout}{stderr}");
    let expected = format!(
        "민지 enrolled: the lab grades {} now\nthe lab grades your server; the class: http://{}/class\n\
         PASS echo-lite: it answers\nPASS echo-lite: it echoes\nthe lab measured: 2 passed, 0 failed\n",
        good.addr, lab.addr
    );
    assert_eq!(stdout, expected);
    let (ok, stdout, stderr) = run("철수", &wrong.addr.to_string());
    assert!(!ok, "{stdout}");
    assert!(stdout.contains(&format!("FAIL echo-lite: {MARKUP} — send back what you read\n")), "{stdout}");
    assert!(stderr.contains("the lab's checks did not all pass"), "{stderr}");
    let (ok, stdout, stderr) = run("영희", &tcp.to_string());
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains(&format!("the lab refused: {tcp} is the lab itself")), "{stderr}");
}

#[test]
#[ignore = "needs Chromium and playwright-core: .ci/run installs them"]
fn in_a_browser_the_scoreboard_fills_in_live_and_shows_markup_as_text() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    assert!(std::path::Path::new(&chromium).exists(), "no Chromium at {chromium}: apt-get install chromium");
    let browser = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(browser.join("node_modules/playwright-core").exists(), "run `npm install` in tests/browser");
    let (lab, _) = class_lab(config(1), Arc::new(Fake::default()));
    let wrong = Student::start(false);
    let url = format!("http://{}/class", lab.addr);
    let mut node = Command::new("node")
        .current_dir(&browser)
        .env("CHROMIUM", &chromium)
        .args(["class.mjs", &url, &wrong.addr.port().to_string()])
        .args(std::env::var("CLASS_SCREENSHOT").ok())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node (Node.js 18 or later)");
    let mut said = BufReader::new(node.stdout.take().unwrap()).lines().map_while(Result::ok);
    assert_eq!(said.next().as_deref(), Some("saw FAIL"), "the browser never saw the FAIL");
    // The student fixes the server; the teacher grades everyone again.
    wrong.correct.store(true, Ordering::SeqCst);
    assert_eq!(request(lab.addr, "POST", "/class/grade", "{}", "").0, 200);
    assert_eq!(said.next().as_deref(), Some("ok"), "the browser test failed (its reason is above)");
    assert!(node.wait().unwrap().success());
}
