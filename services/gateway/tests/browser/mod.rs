//! A real browser for the storefront tests: Debian's chromium, headless, driven over
//! WebDriver by chromedriver (`./dev test` installs both). Waits are on DOM conditions
//! with a deadline, never fixed sleeps.

#![allow(dead_code)] // each test file uses its own part of this

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How long a page may take to reach a state the test waits for: the saga of an order
/// takes well under a second on a quiet machine, and tests share two cores.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Where the chromium and chromedriver binaries are (`CHROMIUM`, `CHROMEDRIVER` override).
fn binary(variable: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(variable).unwrap_or_else(|_| default.into()));
    assert!(
        path.exists(),
        "{} is missing: apt-get install -y chromium chromium-driver (./dev test does)",
        path.display()
    );
    path
}

/// A chromedriver process with one headless chromium session on a page of `base`.
pub struct Browser {
    pub client: Client,
    /// The gateway, as `http://127.0.0.1:port`.
    pub base: String,
    driver: tokio::process::Child,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session with a window of
    /// `width`×`height`.
    pub async fn start(gateway_port: u16, width: u32, height: u32) -> Self {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = testkit::free_port();
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connected = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match connected {
                Ok(client) => break client,
                Err(error) if started.elapsed() < PATIENCE => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("no chromium session through chromedriver: {error}"),
            }
        };
        Self {
            client,
            base: format!("http://127.0.0.1:{gateway_port}"),
            driver,
        }
    }

    /// Opens a page of the storefront by its path (a full page load).
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("page opens");
    }

    /// Waits until the JavaScript expression `condition` is truthy on the page; panics
    /// with `what` and the page's main text after [`PATIENCE`].
    pub async fn until(&self, what: &str, condition: &str) {
        let script = format!("return !!({condition});");
        let started = Instant::now();
        loop {
            if let Ok(Value::Bool(true)) = self.client.execute(&script, vec![]).await {
                return;
            }
            if started.elapsed() > PATIENCE {
                let text = self.text("main").await;
                panic!("never true: {what} ({condition}); the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element matching `css`.
    pub async fn element(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css}: {error}"))
    }

    /// The visible text of the first element matching `css`, or "" when there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Types `text` into the field matching `css`, after emptying it. A field replaced
    /// while typing (the page re-rendered) is found again.
    pub async fn fill(&self, css: &str, text: &str) {
        let started = Instant::now();
        loop {
            let field = self.element(css).await;
            let typed = match field.clear().await {
                Ok(()) => field.send_keys(text).await,
                Err(error) => Err(error),
            };
            match typed {
                Ok(()) => return,
                Err(error) if started.elapsed() > PATIENCE => panic!("typing into {css}: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Clicks the element matching `css`, finding it again if it was replaced.
    pub async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            match self.element(css).await.click().await {
                Ok(()) => return,
                Err(error) if started.elapsed() > PATIENCE => panic!("clicking {css}: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Types `text` on the keyboard, key by key, into whatever has the focus.
    pub async fn type_keys(&self, text: &str) {
        let keys = text
            .chars()
            .fold(KeyActions::new("keyboard".into()), |keys, key| {
                keys.then(KeyAction::Down { value: key })
                    .then(KeyAction::Up { value: key })
            });
        self.client
            .perform_actions(keys)
            .await
            .expect("keys pressed");
    }

    /// Presses one key (Tab, Enter, an arrow…) wherever the focus is.
    pub async fn press(&self, key: Key) {
        self.type_keys(&char::from(key).to_string()).await;
    }

    /// Presses Tab until an element matching `css` has the focus: the proof that the
    /// keyboard reaches it. Panics with the last stops of the focus when 60 presses do
    /// not get there.
    pub async fn tab_to(&self, css: &str) {
        let focused = format!(
            "return document.activeElement?.matches({}) === true;",
            json!(css)
        );
        let mut stops = Vec::new();
        for _ in 0..60 {
            self.press(Key::Tab).await;
            if self.eval(&focused).await == Value::Bool(true) {
                return;
            }
            stops.push(
                self.eval(
                    "const e = document.activeElement; \
                     return e ? `${e.tagName.toLowerCase()} ${e.name ?? ''} ${(e.textContent ?? '').trim().slice(0, 24)}` : 'nothing';",
                )
                .await,
            );
        }
        let last = &stops[stops.len().saturating_sub(12)..];
        panic!("Tab never reaches {css}; the focus went through {last:?}");
    }

    /// Asserts that the page needs no sideways scrolling at the window's width.
    pub async fn fits_the_width(&self, page: &str) {
        let sizes = self
            .eval("return [document.documentElement.scrollWidth, window.innerWidth];")
            .await;
        assert!(
            sizes[0].as_u64() <= sizes[1].as_u64(),
            "{page} is wider than the window (scroll width, window width): {sizes}"
        );
    }

    /// Runs `script` (a function body) and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }

    /// Whether a JavaScript alert, confirm or prompt is open.
    pub async fn alert_open(&self) -> bool {
        self.client.get_alert_text().await.is_ok()
    }

    /// Saves a PNG screenshot of the window as `docs/img/<name>`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
        std::fs::create_dir_all(&dir).expect("docs/img");
        std::fs::write(dir.join(name), png).expect("screenshot written");
    }

    /// Saves a screenshot of the whole page, however long, with nothing focused: the
    /// window grows to the page's height for it, then goes back.
    pub async fn screenshot_whole(&self, name: &str) {
        let (width, height) = self.client.get_window_size().await.expect("window size");
        let page = self
            .eval("document.activeElement?.blur(); return document.documentElement.scrollHeight;")
            .await
            .as_u64()
            .expect("page height");
        let chrome = height.saturating_sub(
            self.eval("return window.innerHeight;")
                .await
                .as_u64()
                .expect("inner height"),
        );
        let tall = u32::try_from(page + chrome).expect("a sane height");
        self.client
            .set_window_size(u32::try_from(width).expect("a sane width"), tall)
            .await
            .expect("window grows");
        self.screenshot(name).await;
        self.client
            .set_window_size(width as u32, height as u32)
            .await
            .expect("window size back");
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}
