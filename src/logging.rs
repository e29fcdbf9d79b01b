//! Log output for `tokengate serve`: tracing's familiar one-line layout
//! (`2026-11-22T03:34:34.994512Z  INFO tokengate::http: token request route="/api/Token" ...`),
//! written by [`LineFormat`] without the generic `core::fmt` machinery the default formatter
//! runs per field, or one JSON object per line ([`JsonFormat`], `[log] format = "json"`), and a
//! shared buffer flushed by a background thread. Every token request logs
//! a line, so the line's cost is paid on every request: measured with `perf` under the load
//! bench, the default formatter took 12% of the server's CPU per request, this one ~3%.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// An error with every source beneath it, `outer: inner: innermost`, for the log line of a
/// failure whose cause an operator must act on (a store that is down, a key that cannot sign).
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

/// At most so many lines a second of one kind (the log line of a request refused as sent, say),
/// so a client repeating a broken request costs the log a bounded number of lines; the lines
/// left out are counted and the count goes on the next line written.
pub struct LineThrottle {
    per_second: u32,
    window: Mutex<Window>,
}

struct Window {
    second: u64,
    written: u32,
    suppressed: u64,
}

impl LineThrottle {
    pub const fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window: Mutex::new(Window {
                second: 0,
                written: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(lines left out since the last one written)` when this line may be written.
    pub fn admit(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.admit_at(now)
    }

    fn admit_at(&self, second: u64) -> Option<u64> {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.second != second {
            window.second = second;
            window.written = 0;
        }
        if window.written < self.per_second {
            window.written += 1;
            Some(std::mem::take(&mut window.suppressed))
        } else {
            window.suppressed += 1;
            None
        }
    }
}

/// How often buffered lines are written out: a crash loses at most this much of the log.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const BUFFER_BYTES: usize = 64 * 1024;

/// The layout of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// [`LineFormat`].
    #[default]
    Text,
    /// [`JsonFormat`]: one object per line with the text line's fields as members.
    Json,
}

/// Installs the global subscriber: `RUST_LOG` filtering (default `info`), lines in `format`, and
/// standard output through a 64 KiB buffer shared by the workers and flushed every 100 ms (and
/// when full, and when the returned guard drops), the way a web server's buffered access log
/// works: the line every request logs costs formatting and a copy, not a `write(2)` per line.
pub fn init(format: Format) -> FlushOnDrop {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // actix-http logs a connection it cannot parse (a broken head, a bad chunk) at ERROR, one
    // line per connection: a client sending garbage would write the log as fast as it sends.
    // Those are the client's faults, so they show only when the log is at debug level anyway.
    let connection_errors = filter
        .max_level_hint()
        .is_some_and(|level| level >= tracing::level_filters::LevelFilter::DEBUG);
    let actix_lines = tracing_subscriber::filter::filter_fn(move |metadata| {
        connection_errors || !metadata.target().starts_with("actix_http")
    });
    let buffer: LogBuffer = Arc::new(Mutex::new(std::io::BufWriter::with_capacity(
        BUFFER_BYTES,
        std::io::stdout(),
    )));
    let flusher = buffer.clone();
    let started = std::thread::Builder::new()
        .name("tokengate-log-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flush(&flusher);
            }
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(SharedBuffer(buffer.clone()));
    match format {
        Format::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .event_format(LineFormat)
            .finish()
            .with(actix_lines)
            .init(),
        Format::Json => builder
            .event_format(JsonFormat)
            .finish()
            .with(actix_lines)
            .init(),
    }
    if let Err(e) = started {
        tracing::warn!("no log flusher thread ({e}): log lines appear as the buffer fills");
    }
    FlushOnDrop(buffer)
}

type LogBuffer = Arc<Mutex<std::io::BufWriter<std::io::Stdout>>>;

fn flush(buffer: &LogBuffer) {
    let mut buffer = buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Nowhere to report a failing standard output.
    let _ = buffer.flush();
}

struct SharedBuffer(LogBuffer);

impl<'a> MakeWriter<'a> for SharedBuffer {
    type Writer = LockedBuffer<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LockedBuffer(
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// The buffer, held for one log line.
struct LockedBuffer<'a>(std::sync::MutexGuard<'a, std::io::BufWriter<std::io::Stdout>>);

impl std::io::Write for LockedBuffer<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // The flusher thread decides when lines leave; a per-line flush would defeat the buffer.
        Ok(())
    }
}

/// Flushes the log buffer when dropped (when `serve` returns).
pub struct FlushOnDrop(LogBuffer);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        flush(&self.0);
    }
}

/// The line layout of tracing-subscriber's default `Full` format: RFC 3339 UTC time with
/// microseconds, the level right-aligned in five columns, the spans in scope, the target, the
/// message, then `name=value` fields, strings quoted and escaped as `Debug` escapes them (so a
/// value cannot forge a line break). Time and plain strings are written directly; only values
/// that need `Debug` or `Display` formatting go through `core::fmt`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_timestamp(&mut writer, SystemTime::now())?;
        let metadata = event.metadata();
        write_level(&mut writer, metadata.level())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) =
                    extensions.get::<tracing_subscriber::fmt::FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(metadata.target())?;
        writer.write_str(": ")?;
        let mut visitor = Fields {
            writer: &mut writer,
            result: Ok(()),
            first: true,
        };
        event.record(&mut visitor);
        visitor.result?;
        writer.write_char('\n')
    }
}

fn write_level(writer: &mut Writer<'_>, level: &Level) -> fmt::Result {
    let (text, color) = match *level {
        Level::ERROR => ("ERROR ", "31"),
        Level::WARN => (" WARN ", "33"),
        Level::INFO => (" INFO ", "32"),
        Level::DEBUG => ("DEBUG ", "34"),
        Level::TRACE => ("TRACE ", "35"),
    };
    if writer.has_ansi_escapes() {
        write!(writer, "\x1b[{color}m{}\x1b[0m ", text.trim_end())
    } else {
        writer.write_str(text)
    }
}

thread_local! {
    /// The formatted `YYYY-MM-DDTHH:MM:SS.` of the last second this thread logged in: lines
    /// arrive thousands per second, the date changes once per second.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

fn write_timestamp(writer: &mut Writer<'_>, now: SystemTime) -> fmt::Result {
    write_instant(writer, now)?;
    writer.write_str(" ")
}

/// `2026-11-22T03:34:34.994512Z`.
fn write_instant(writer: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            let at = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default();
            cached.1.clear();
            write!(cached.1, "{}", at.format("%Y-%m-%dT%H:%M:%S."))?;
            cached.0 = secs;
        }
        writer.write_str(&cached.1)
    })?;
    let micros = since_epoch.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // Six ASCII digits.
    writer.write_str(std::str::from_utf8(&digits).unwrap_or("000000"))?;
    writer.write_str("Z")
}

/// One JSON object per line, the layout of tracing-subscriber's JSON formatter with the event's
/// fields flattened: `timestamp` (as the text line's), `level`, the fields (`message` first, as
/// events record it), `target`, and `span` (`{"name": ...}`, the innermost) inside one. Values
/// keep their type (numbers, booleans); `%` and `?` values are strings of their `Display` and
/// `Debug` text. Written with the gateway's one JSON writer into a buffer of the thread's own:
/// measured with callgrind on the request log line, tracing-subscriber's `json()` layout cost
/// 20% more instructions per token request than the text line, this about the same as the text
/// line.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFormat;

thread_local! {
    /// The line being written, and the text of a `Display`/`Debug` value, kept between lines.
    static JSON_LINE: RefCell<(Vec<u8>, String)> = const { RefCell::new((Vec::new(), String::new())) };
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        JSON_LINE.with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let (line, text) = &mut *buffers;
            line.clear();
            let metadata = event.metadata();
            let mut result = Ok(());
            crate::json::object(line, |object| {
                text.clear();
                result = write_instant(text, SystemTime::now());
                object.str("timestamp", text);
                object.str("level", metadata.level().as_str());
                event.record(&mut JsonFields { object, text });
                object.str("target", metadata.target());
                if let Some(span) = ctx.event_scope().and_then(|scope| scope.from_root().last()) {
                    object.object("span", |o| {
                        o.str("name", span.name());
                    });
                }
            });
            result?;
            // The writer only ever makes valid UTF-8 of UTF-8 input.
            writer.write_str(std::str::from_utf8(line).map_err(|_| fmt::Error)?)?;
            writer.write_char('\n')
        })
    }
}

/// Writes an event's fields as members of a JSON object.
struct JsonFields<'o, 'b, 't> {
    object: &'o mut crate::json::Object<'b>,
    /// Scratch for values written through `core::fmt`.
    text: &'t mut String,
}

fn json_name(field: &Field) -> &'static str {
    let name = field.name();
    name.strip_prefix("r#").unwrap_or(name)
}

impl Visit for JsonFields<'_, '_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.object.str(json_name(field), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.object.int(json_name(field), value),
            Err(_) => self.object.float(json_name(field), value as f64),
        };
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.object.int(json_name(field), value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.object.float(json_name(field), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.object.bool(json_name(field), value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text.clear();
        let _ = write!(self.text, "{value}");
        self.object.str(json_name(field), self.text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value:?}");
        self.object.str(json_name(field), self.text);
    }
}

/// Writes an event's fields: the message bare, then ` name=value`.
struct Fields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    result: fmt::Result,
    first: bool,
}

impl Fields<'_, '_> {
    fn separator(&mut self) -> fmt::Result {
        if std::mem::replace(&mut self.first, false) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    fn name(&mut self, field: &Field) -> fmt::Result {
        self.separator()?;
        // `r#type` is declared as a raw identifier; the default format prints `type`.
        let name = field.name();
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }

    fn record(&mut self, write: impl FnOnce(&mut Self) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = write(self);
        }
    }
}

/// Whether `Debug` would print the string between quotes unchanged.
fn needs_no_escaping(text: &str) -> bool {
    // No early exit, so the loop vectorises: most values are short and clean.
    !text.bytes().fold(false, |dirty, b| {
        dirty | !(0x20..0x7f).contains(&b) | (b == b'"') | (b == b'\\')
    })
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(|this| {
            if field.name() == "message" {
                this.separator()?;
                return this.writer.write_str(value);
            }
            this.name(field)?;
            if needs_no_escaping(value) {
                this.writer.write_char('"')?;
                this.writer.write_str(value)?;
                this.writer.write_char('"')
            } else {
                write!(this.writer, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record(|this| {
            this.name(field)?;
            write!(this.writer, "{value}")
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record(|this| {
            this.name(field)?;
            write!(this.writer, "{value}")
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record(|this| {
            this.name(field)?;
            this.writer.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record(|this| {
            this.name(field)?;
            write!(this.writer, "{value}")
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(|this| {
            if field.name() == "message" {
                this.separator()?;
                return write!(this.writer, "{value:?}");
            }
            this.name(field)?;
            write!(this.writer, "{value:?}")
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_throttle_writes_so_many_lines_a_second_and_counts_the_rest() {
        let throttle = super::LineThrottle::new(2);
        assert_eq!(throttle.admit_at(7), Some(0));
        assert_eq!(throttle.admit_at(7), Some(0));
        assert_eq!(throttle.admit_at(7), None);
        assert_eq!(throttle.admit_at(7), None);
        assert_eq!(throttle.admit_at(8), Some(2));
        assert_eq!(throttle.admit_at(8), Some(0));
        assert_eq!(throttle.admit_at(8), None);
    }

    use super::*;
    use std::sync::Mutex;

    /// Captures what a subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = CaptureWriter;
        fn make_writer(&'a self) -> Self::Writer {
            CaptureWriter(self.0.clone())
        }
    }

    struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for CaptureWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn events() {
        let peer: std::net::IpAddr = std::net::Ipv4Addr::LOCALHOST.into();
        tracing::info!(
            route = "/api/Token",
            method = "POST",
            peer = %peer,
            status = 200u16,
            latency_us = 42u64,
            "token request"
        );
        tracing::warn!(store = "redis", error = %"timed out", "health check: store unavailable");
        tracing::error!(
            cause = "quote \" and\nnewline \u{202e}",
            "token request failed"
        );
        tracing::info!(r#type = "x", ok = true, delta = -3i64, debug = ?Some(1), "types");
        tracing::info!("{} formatted", 2);
        let span = tracing::info_span!("outer", id = 7);
        let _entered = span.enter();
        tracing::debug!("inside");
    }

    fn lines_of(with_line_format: bool) -> Vec<String> {
        let capture = Capture::default();
        let builder = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_ansi(false)
            .with_writer(capture.clone());
        if with_line_format {
            tracing::subscriber::with_default(builder.event_format(LineFormat).finish(), events);
        } else {
            tracing::subscriber::with_default(builder.finish(), events);
        }
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_match_the_default_format_but_for_the_clock() {
        let ours = lines_of(true);
        let default = lines_of(false);
        assert_eq!(ours.len(), 6, "{ours:#?}");
        assert_eq!(ours.len(), default.len());
        // `2026-11-22T03:34:34.994512Z ` is 28 characters in both.
        for (ours, default) in ours.iter().zip(&default) {
            assert_eq!(
                ours[28..],
                default[28..],
                "\nours:    {ours}\ndefault: {default}"
            );
            assert_eq!(ours.as_bytes()[26], b'Z', "{ours}");
        }
        assert!(
            ours[0].ends_with(
                r#" INFO tokengate::logging::tests: token request route="/api/Token" method="POST" peer=127.0.0.1 status=200 latency_us=42"#
            ),
            "{}",
            ours[0]
        );
    }

    #[test]
    fn json_lines_carry_the_text_lines_fields_as_members() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_writer(capture.clone())
            .event_format(JsonFormat)
            .finish();
        tracing::subscriber::with_default(subscriber, events);
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        assert_eq!(lines.len(), 6, "{text}");
        let request = &lines[0];
        assert_eq!(request["level"], "INFO");
        assert_eq!(request["target"], "tokengate::logging::tests");
        assert_eq!(request["message"], "token request");
        assert_eq!(request["route"], "/api/Token");
        assert_eq!(request["peer"], "127.0.0.1");
        assert_eq!(request["status"], 200);
        assert_eq!(request["latency_us"], 42);
        chrono::DateTime::parse_from_rfc3339(request["timestamp"].as_str().unwrap()).unwrap();
        // A value cannot forge a second line: the newline stays inside its string.
        assert_eq!(lines[2]["cause"], "quote \" and\nnewline \u{202e}");
        assert_eq!(lines[5]["span"]["name"], "outer");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        use chrono::SubsecRound as _;
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(LineFormat)
            .with_writer(capture.clone())
            .finish();
        let before = chrono::Utc::now();
        tracing::subscriber::with_default(subscriber, || tracing::info!("tick"));
        let after = chrono::Utc::now();
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let stamp = chrono::DateTime::parse_from_rfc3339(&text[..27]).unwrap();
        assert!(before.trunc_subsecs(6) <= stamp && stamp <= after, "{text}");
    }

    #[test]
    fn only_plain_printable_ascii_skips_escaping() {
        assert!(needs_no_escaping("/api/Token"));
        assert!(needs_no_escaping(""));
        for dirty in ["a\"b", "a\\b", "a\nb", "\u{7f}", "é", "\u{202e}"] {
            assert!(!needs_no_escaping(dirty), "{dirty:?}");
        }
    }
}
