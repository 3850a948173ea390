//! Deterministic corpus generator for benchmarks.
//!
//! Writes a realistic archive of Customer.io Track API calls (docs/mapping.md shapes) until at
//! least `--size-mb` MiB of whole lines have been written:
//!
//! ```text
//! cargo run --release --example gen_corpus -- --size-mb 100 --seed 1 [--format ndjson|csv] [--out FILE]
//! ```
//!
//! Mix per line (by generator draw): 40% v1 events (HTTP-call envelopes), 20% v1 identifies,
//! 35% bare v2 entities, 4% other calls (merge, suppress, devices, delete, metrics, push, v2
//! batches), 1% deliberately malformed lines.
//!
//! Output depends only on `--seed`, `--size-mb` and `--format`: the PRNG is a local splitmix64
//! and no hashing, clock or platform-dependent formatting is involved. For a given seed and
//! format, a smaller corpus is a byte prefix of a larger one.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};

// ------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------

#[derive(Parser, Debug)]
#[command(about = "Generate a deterministic Track API corpus for benchmarks")]
struct Args {
    /// Stop once at least this many MiB (2^20 bytes) have been written (whole lines only).
    #[arg(long)]
    size_mb: f64,
    /// PRNG seed; the same seed, size and format always give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output format: NDJSON records, or the HTTP-calls CSV layout (`method,path,body`).
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    format: Format,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Ndjson,
    Csv,
}

// ------------------------------------------------------------------------------------------
// PRNG: splitmix64, fully deterministic across platforms
// ------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x6A09_E667_F3BC_C908)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (multiply-shift; `n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// Picks a value from `(weight, value)` pairs.
    fn weighted<T: Copy>(&mut self, xs: &[(u64, T)]) -> T {
        let total: u64 = xs.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for &(w, v) in xs {
            if roll < w {
                return v;
            }
            roll -= w;
        }
        unreachable!("weights sum to total")
    }
}

/// splitmix64 finaliser; also used to derive stable per-person values from a person number.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ------------------------------------------------------------------------------------------
// A tiny ordered JSON value (keys keep insertion order, numbers keep their text)
// ------------------------------------------------------------------------------------------

enum V {
    Str(String),
    /// JSON text written verbatim: numbers such as `1.50`, pre-escaped strings such as
    /// `"caf\u00e9"`, or (for malformed lines only) text that is not JSON at all.
    Raw(Cow<'static, str>),
    Bool(bool),
    Null,
    Arr(Vec<V>),
    Obj(Obj),
}

struct Obj(Vec<(Cow<'static, str>, V)>);

impl Obj {
    fn new() -> Self {
        Obj(Vec::with_capacity(8))
    }

    fn with(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<V>) -> Self {
        self.push(key, value);
        self
    }

    fn push(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<V>) {
        self.0.push((key.into(), value.into()));
    }
}

impl From<Obj> for V {
    fn from(o: Obj) -> V {
        V::Obj(o)
    }
}
impl From<&str> for V {
    fn from(s: &str) -> V {
        V::Str(s.to_owned())
    }
}
impl From<String> for V {
    fn from(s: String) -> V {
        V::Str(s)
    }
}
impl From<bool> for V {
    fn from(b: bool) -> V {
        V::Bool(b)
    }
}
impl From<u64> for V {
    fn from(n: u64) -> V {
        V::Raw(Cow::Owned(n.to_string()))
    }
}
impl From<Vec<V>> for V {
    fn from(a: Vec<V>) -> V {
        V::Arr(a)
    }
}

/// A number (or other JSON literal) written exactly as given.
fn raw(text: &'static str) -> V {
    V::Raw(Cow::Borrowed(text))
}

fn raw_owned(text: String) -> V {
    V::Raw(Cow::Owned(text))
}

fn write_json(v: &V, out: &mut Vec<u8>) {
    match v {
        V::Str(s) => write_json_str(s, out),
        V::Raw(t) => out.extend_from_slice(t.as_bytes()),
        V::Bool(true) => out.extend_from_slice(b"true"),
        V::Bool(false) => out.extend_from_slice(b"false"),
        V::Null => out.extend_from_slice(b"null"),
        V::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out);
            }
            out.push(b']');
        }
        V::Obj(Obj(fields)) => {
            out.push(b'{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(k, out);
                out.push(b':');
                write_json(item, out);
            }
            out.push(b'}');
        }
    }
}

/// String escaping is delegated to serde_json (quotes, backslashes, control characters).
fn write_json_str(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

fn to_json(v: &V) -> Vec<u8> {
    let mut buf = Vec::with_capacity(512);
    write_json(v, &mut buf);
    buf
}

// ------------------------------------------------------------------------------------------
// Records: what one output line holds, independent of the output format
// ------------------------------------------------------------------------------------------

/// A logged HTTP call to the Track API (docs/mapping.md, "HTTP call envelope").
struct Call {
    method: &'static str,
    /// Request path, already percent-encoded, e.g. `/api/v1/customers/bob%40example.com`.
    path: String,
    /// NDJSON only: log the full URL under `url` instead of `path`.
    use_url: bool,
    body: Option<V>,
    /// NDJSON only: the body is logged as a string holding JSON text.
    body_as_text: bool,
    /// NDJSON only: other envelope keys (call time, status, request id, headers).
    meta: Obj,
}

enum Record {
    Call(Call),
    /// A bare v2 entity (`/api/v2/entity` body), or for malformed lines any JSON value.
    Entity(V),
    /// A bare v2 batch `{"batch":[…]}` (`/api/v2/batch` body).
    Batch(V),
    /// The inner record's line (NDJSON) or body (CSV) cut to the given per-mille of its length.
    Truncated(Box<Record>, u64),
}

#[derive(Clone, Copy)]
enum Family {
    V1Event,
    V1Identify,
    V2Entity,
    Other,
    Malformed,
}

const FAMILIES: [&str; 5] = ["v1 event", "v1 identify", "v2 entity", "other", "malformed"];

fn generate(rng: &mut Rng) -> (Family, Record) {
    // Per mille: 400 v1 events, 200 v1 identifies, 350 v2 entities, 40 other, 10 malformed.
    let family = rng.weighted(&[
        (400, Family::V1Event),
        (200, Family::V1Identify),
        (350, Family::V2Entity),
        (40, Family::Other),
        (10, Family::Malformed),
    ]);
    let record = match family {
        Family::V1Event => v1_event(rng),
        Family::V1Identify => v1_identify(rng),
        Family::V2Entity => Record::Entity(v2_entity(rng)),
        Family::Other => other_call(rng),
        Family::Malformed => malformed(rng),
    };
    (family, record)
}

// ------------------------------------------------------------------------------------------
// Vocabulary
// ------------------------------------------------------------------------------------------

/// Word lists the payloads are drawn from (kept compact: rustfmt would put one word per line).
#[rustfmt::skip]
mod vocab {
    pub const FIRST_NAMES: &[&str] = &[
        "Alice", "Bob", "José", "Zoë", "Björn", "François", "Łukasz", "Søren", "Ana María",
        "Nguyễn", "Chloé", "Renée", "Siobhán", "İlkay", "Алексей", "محمد", "さくら", "李娜", "Jürgen",
        "Dóra", "Mary-Kate", "D'Angelo",
    ];
    pub const LAST_NAMES: &[&str] = &[
        "Smith", "Müller", "García", "O'Brien", "Dvořák", "Nowak", "Østergaard", "山田", "王",
        "Ivanović", "Larsen", "Nuñez", "Kowalczyk", "Đorđević", "Ó Súilleabháin", "Schröder",
        "van der Berg", "Иванова", "김", "Yılmaz",
    ];
    pub const ASCII_FIRST: &[&str] = &[
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "oscar", "peggy", "trent", "victor", "walter",
    ];
    pub const ASCII_LAST: &[&str] = &[
        "smith", "jones", "garcia", "nguyen", "mueller", "kowalski", "obrien", "tanaka", "rossi",
        "dubois", "larsen", "silva",
    ];
    pub const DOMAINS: &[&str] = &[
        "example.com", "example.org", "mail.example.net", "corp.example.co.uk", "exemple.fr",
    ];
    pub const CITIES: &[&str] = &[
        "São Paulo", "Zürich", "Kraków", "東京", "北京市", "Montréal", "Reykjavík", "New York",
        "München", "Córdoba", "Hà Nội", "서울", "Αθήνα", "Île-de-France",
    ];
    pub const COUNTRIES: &[&str] = &[
        "BR", "CH", "PL", "JP", "CN", "CA", "IS", "US", "DE", "AR", "VN", "KR",
    ];
    pub const PLANS: &[&str] = &["free", "basic", "pro", "enterprise", "trial", "pro-annual"];
    pub const TAGS: &[&str] = &[
        "vip", "beta", "early-adopter", "churn-risk", "新規", "🔥hot", "b2b", "newsletter", "été-2023",
    ];
    pub const EVENT_NAMES: &[&str] = &[
        "Signed Up", "Order Completed", "Product Viewed", "Added to Cart", "checkout_started",
        "purchase", "Viewed Pricing", "Subscription Renewed", "Password Reset", "Video Played",
        "app_opened", "Commande passée", "購入完了", "🎉 Milestone reached", "trial_will_end",
    ];
    pub const PAGE_URLS: &[&str] = &[
        "https://www.example.com/pricing",
        "https://www.example.com/blog/été-2023?utm_source=newsletter&utm_medium=email",
        "https://shop.example.com/produits/crème-brûlée", "https://www.example.com/ja/記事/123",
        "/docs/getting-started#install", "https://www.example.com/search?q=caf%C3%A9+au+lait",
        "/account/settings",
    ];
    pub const SCREEN_NAMES: &[&str] = &[
        "Home", "Settings", "Checkout", "Profile ✏️", "カート", "Onboarding Step 2",
        "Détails du produit",
    ];
    pub const PRODUCTS: &[&str] = &[
        "Crème Brûlée Kit", "Tシャツ (L)", "Café au lait mug", "Smörgåsbord platter",
        "Über Widget 3000", "Ñandú plush 🐦", "Wireless Earbuds \"Pro\"",
        "Adapter C:\\Program Files edition", "红茶 100g", "Gift card 🎁 €50",
    ];
    /// String-heavy free text: quotes, backslashes, newlines, tabs, scripts and emoji.
    pub const NOTES: &[&str] = &[
        "Customer said \"please call back\" after 5pm.", "Line one\nLine two\nLine three",
        "Tab\tseparated\tvalues\tfrom the import",
        "Backslash \\ and slash / and quote \" all in one", "日本語のテキストと絵文字 😀👍 を含むメモ",
        "Ελληνικό κείμενο για δοκιμή", "עברית טקסט לבדיקה", "Family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵🇧🇷",
        "Combining marks: e\u{301} a\u{308} n\u{303}",
        "Windows path C:\\Users\\zoë\\Documents\\invoice.pdf",
        "Prefers contact by e-mail; do NOT call on weekends.", "Привет! Это тестовая заметка.",
        "中文备注：请在周一前发货。", "Mixed: naïve café résumé — “smart quotes” and ‘apostrophes’…",
    ];
    /// Strings already in JSON-escaped form (`\u00e9`, surrogate pairs, `\"`, `\\`, `\/`, `\n`).
    pub const ESCAPED_STRINGS: &[&str] = &[
        r#""caf\u00e9 cr\u00e8me""#, r#""na\u00efve r\u00e9sum\u00e9""#,
        r#""\ud83d\ude80 launch day""#, r#""quote \" inside, backslash \\ and \/ slash""#,
        r#""multi\nline\ttext\r\n""#, r#""\u6771\u4eac\u90fd""#,
        r#""\u00c9milie \u00e0 Z\u00fcrich""#,
    ];
    /// Numbers whose text must survive conversion unchanged.
    pub const NUMBERS: &[&str] = &[
        "1.50", "12345678901234567890", "0", "-3", "99.99", "3.14159265358979", "1e3", "2.5E-4",
        "-0.0", "100", "0.10", "42", "-273.15", "9007199254740993",
    ];
    pub const TIMEZONES: &[&str] = &[
        "Europe/Paris", "America/Sao_Paulo", "Asia/Tokyo", "America/New_York", "Europe/Zurich",
        "Asia/Kolkata",
    ];
    pub const CAMPAIGNS: &[&str] = &[
        "spring_sale", "rentrée-2023", "黒い金曜日", "onboarding_v2", "win-back \"Q4\"",
    ];
    pub const CURRENCIES: &[&str] = &["EUR", "USD", "JPY", "GBP", "BRL", "CHF"];
    pub const PRICES: &[&str] = &[
        "1.50", "9.99", "19.90", "120", "0.99", "1999.00", "45.5", "3000",
    ];
    pub const OBJECT_NAMES: &[&str] = &[
        "acme", "globex", "Société Générale", "株式会社テスト", "initech", "Umbrella Corp.",
        "Müller & Söhne GmbH", "🍕 Pizza Guild",
    ];
    pub const INDUSTRIES: &[&str] = &["SaaS", "Retail", "Fintech", "Santé", "教育", "Logistics"];
    pub const DELIVERY_METRICS: &[&str] = &[
        "delivered", "opened", "clicked", "converted", "bounced", "spammed", "dropped",
    ];
    pub const USER_AGENTS: &[&str] = &[
        "customerio-ruby/5.1.0 ruby/3.2.2", "customerio-node/4.1.1 node/v20.10.0",
        "Go-http-client/1.1", "python-requests/2.31.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15",
    ];
}
use vocab::*;

// ------------------------------------------------------------------------------------------
// Time
// ------------------------------------------------------------------------------------------

/// A call time in unix seconds between 2019-01-01 and 2024-12-31.
fn random_secs(rng: &mut Rng) -> u64 {
    rng.range(1_546_300_800, 1_735_689_599)
}

/// `secs` as a timestamp in one of the accepted encodings (docs/mapping.md).
fn timestamp(rng: &mut Rng, secs: u64) -> V {
    match rng.below(100) {
        0..45 => secs.into(),
        45..60 => (secs * 1000 + rng.below(1000)).into(),
        60..68 => raw_owned(format!("{secs}.{:03}", rng.below(1000))),
        68..72 => raw_owned(format!("{secs}.{:06}", rng.below(1_000_000))),
        72..80 => V::Str(secs.to_string()),
        80..88 => V::Str(rfc3339(secs, None, 0)),
        88..95 => V::Str(rfc3339(secs, Some(rng.below(1000)), 0)),
        _ => {
            let offset = rng.pick(&[-300i64, 60, 120, 330, 540]);
            V::Str(rfc3339(secs, Some(rng.below(1000)), offset))
        }
    }
}

/// The envelope's receive time, a little after `secs`, as a logging system would record it.
fn received_at(rng: &mut Rng, secs: u64) -> V {
    let t = secs + rng.below(120);
    match rng.below(10) {
        0..7 => V::Str(rfc3339(t, Some(rng.below(1000)), 0)),
        7..9 => (t * 1000 + rng.below(1000)).into(),
        _ => raw_owned(format!("{t}.{:06}", rng.below(1_000_000))),
    }
}

/// RFC 3339 text for unix seconds, with optional milliseconds and a UTC offset in minutes
/// (0 → `Z`).
fn rfc3339(secs: u64, millis: Option<u64>, offset_min: i64) -> String {
    let local = secs as i64 + offset_min * 60;
    let (y, mo, d) = civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    let mut t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if let Some(ms) = millis {
        t.push_str(&format!(".{ms:03}"));
    }
    if offset_min == 0 {
        t.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        let a = offset_min.abs();
        t.push_str(&format!("{sign}{:02}:{:02}", a / 60, a % 60));
    }
    t
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A ULID (Crockford base32) for the given millisecond time.
fn ulid(rng: &mut Rng, ms: u64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let random = (u128::from(rng.next_u64()) << 16) | u128::from(rng.next_u64() & 0xFFFF);
    let value = (u128::from(ms & 0xFFFF_FFFF_FFFF) << 80) | random;
    (0..26)
        .map(|i| ALPHABET[((value >> (125 - 5 * i)) & 31) as usize] as char)
        .collect()
}

// ------------------------------------------------------------------------------------------
// People, objects, identifiers
// ------------------------------------------------------------------------------------------

/// A person; every identifier is derived from the person number, so people recur consistently.
#[derive(Clone, Copy)]
struct Person(u64);

impl Person {
    fn random(rng: &mut Rng) -> Self {
        Person(rng.range(1, 250_000))
    }

    fn id(self) -> String {
        match self.0 % 5 {
            0 => format!("usr_{:07}", self.0),
            1 => format!("{:08x}-{:04x}", mix64(self.0) >> 32, self.0 & 0xFFFF),
            _ => self.0.to_string(),
        }
    }

    fn email(self) -> String {
        let h = mix64(self.0 ^ 0xE3A1);
        if self.0.is_multiple_of(97) {
            return format!("josé.müller{}@exämple.de", self.0);
        }
        let tag = if self.0.is_multiple_of(7) {
            "+news"
        } else {
            ""
        };
        format!(
            "{}.{}{}{}@{}",
            ASCII_FIRST[(h % ASCII_FIRST.len() as u64) as usize],
            ASCII_LAST[(h / 31 % ASCII_LAST.len() as u64) as usize],
            self.0,
            tag,
            DOMAINS[(h / 977 % DOMAINS.len() as u64) as usize]
        )
    }

    /// The bare cio_id (without the `cio_` prefix).
    fn cio_id(self) -> String {
        format!("{:012x}", mix64(self.0 ^ 0xC10) & 0xFFFF_FFFF_FFFF)
    }

    fn phone(self) -> String {
        format!("+33{:09}", mix64(self.0 ^ 0x7E1) % 1_000_000_000)
    }

    fn first_name(self) -> &'static str {
        FIRST_NAMES[(mix64(self.0 ^ 1) % FIRST_NAMES.len() as u64) as usize]
    }

    fn last_name(self) -> &'static str {
        LAST_NAMES[(mix64(self.0 ^ 2) % LAST_NAMES.len() as u64) as usize]
    }
}

/// Percent-encodes a path segment (unreserved characters and `+` stay as they are).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `{identifier}` path segment of a v1 customer call: plain ids, emails (mostly
/// percent-encoded, e.g. `bob%40example.com`), `cio_` ids, and ids needing encoding.
fn v1_identifier_segment(rng: &mut Rng, p: Person) -> String {
    match rng.below(100) {
        0..55 => p.id(),
        55..73 => percent_encode(&p.email()),
        73..80 => p.email(),
        80..94 => format!("cio_{}", p.cio_id()),
        _ => percent_encode(&format!("Kunde {} – {}", p.0, p.last_name())),
    }
}

/// "/api/v1…" with the optional `/api` prefix sometimes left out.
fn v1_path(rng: &mut Rng, rest: &str) -> String {
    if rng.chance(5) {
        format!("/v1{rest}")
    } else {
        format!("/api/v1{rest}")
    }
}

/// v2 person identifiers: mostly one of id/email/cio_id/phone, sometimes several.
fn person_identifiers(rng: &mut Rng, p: Person) -> Obj {
    match rng.below(100) {
        0..50 => Obj::new().with("id", p.id()),
        50..55 => Obj::new().with("id", p.0),
        55..78 => Obj::new().with("email", p.email()),
        78..88 => Obj::new().with("cio_id", p.cio_id()),
        88..92 => Obj::new().with("phone", p.phone()),
        _ => Obj::new().with("id", p.id()).with("email", p.email()),
    }
}

fn anonymous_id(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        (b >> 48) & 0x3FFF | 0x8000,
        b & 0xFFFF_FFFF_FFFF
    )
}

fn object_identifiers(rng: &mut Rng) -> Obj {
    if rng.chance(10) {
        return Obj::new().with("cio_object_id", format!("{:010x}", rng.next_u64() >> 24));
    }
    let type_id = rng.weighted(&[(70, "1"), (20, "2"), (10, "3")]);
    let name = rng.pick(OBJECT_NAMES);
    let object_id = if rng.chance(30) {
        name.to_owned()
    } else {
        format!("{}-{}", name, rng.range(1, 5000))
    };
    Obj::new()
        .with("object_type_id", type_id)
        .with("object_id", object_id)
}

fn delivery_id(rng: &mut Rng) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..28).map(|_| rng.pick(B64) as char).collect()
}

fn device_token(rng: &mut Rng) -> String {
    if rng.chance(50) {
        format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
    } else {
        format!(
            "f{:x}:APA91b{:016x}{:016x}",
            rng.below(1 << 20),
            rng.next_u64(),
            rng.next_u64()
        )
    }
}

// ------------------------------------------------------------------------------------------
// Attribute and property payloads
// ------------------------------------------------------------------------------------------

fn free_text(rng: &mut Rng) -> V {
    if rng.chance(25) {
        raw(rng.pick(ESCAPED_STRINGS))
    } else {
        V::from(rng.pick(NOTES))
    }
}

fn number(rng: &mut Rng) -> V {
    raw(rng.pick(NUMBERS))
}

fn address(rng: &mut Rng) -> V {
    let i = rng.below(CITIES.len() as u64) as usize;
    Obj::new()
        .with(
            "line1",
            format!(
                "{} {}",
                rng.range(1, 250),
                rng.pick(&[
                    "Rue de la Paix",
                    "Hauptstraße",
                    "Main St.",
                    "Calle Mayor",
                    "銀座通り"
                ])
            ),
        )
        .with("city", CITIES[i])
        .with("postal_code", format!("{:05}", rng.below(100_000)))
        .with("country", COUNTRIES[i % COUNTRIES.len()])
        .into()
}

fn tags(rng: &mut Rng) -> V {
    let n = rng.range(0, 4);
    V::Arr((0..n).map(|_| V::from(rng.pick(TAGS))).collect())
}

/// Custom person attributes (traits): names, then `n` distinct fields from a varied pool.
fn person_attributes(rng: &mut Rng, p: Person, n: u64, secs: u64) -> Obj {
    const KINDS: u64 = 22;
    let mut o = Obj::new();
    o.push("first_name", p.first_name());
    o.push("last_name", p.last_name());
    let mut used = 0u32;
    for _ in 0..n.min(KINDS) {
        let mut kind = rng.below(KINDS);
        while used & (1 << kind) != 0 {
            kind = (kind + 1) % KINDS;
        }
        used |= 1 << kind;
        match kind {
            0 => o.push("plan", rng.pick(PLANS)),
            1 => o.push("city", rng.pick(CITIES)),
            2 => o.push("address", address(rng)),
            3 => o.push("tags", tags(rng)),
            4 => o.push("bio", free_text(rng)),
            5 => o.push("lifetime_value", raw(rng.pick(PRICES))),
            6 => o.push("score", number(rng)),
            7 => o.push("newsletter", rng.chance(50)),
            8 => o.push(
                "préférence_langue",
                rng.pick(&["fr", "de", "ja", "pt-BR", "en"]),
            ),
            9 => o.push(
                "生年月日",
                format!(
                    "19{:02}-{:02}-{:02}",
                    rng.range(50, 99),
                    rng.range(1, 12),
                    rng.range(1, 28)
                ),
            ),
            10 => o.push("favorite_emoji", rng.pick(&["🦄", "🚀", "☕", "🎸", "🇧🇷"])),
            11 => o.push(
                "external_ids",
                Obj::new()
                    .with("stripe", format!("cus_{:014x}", rng.next_u64() >> 8))
                    .with("hubspot", rng.range(1000, 9_999_999))
                    .with("legacy", raw("12345678901234567890")),
            ),
            12 => o.push(
                "last_order",
                Obj::new()
                    .with("id", format!("ORD-{}", rng.range(10_000, 999_999)))
                    .with("total", raw(rng.pick(PRICES)))
                    .with("currency", rng.pick(CURRENCIES))
                    .with("at", {
                        let at = secs.saturating_sub(rng.below(9_000_000));
                        timestamp(rng, at)
                    }),
            ),
            13 => o.push("nickname", raw(rng.pick(ESCAPED_STRINGS))),
            14 => o.push("company", rng.pick(OBJECT_NAMES)),
            15 => o.push("deleted_at", V::Null),
            16 => o.push("timezone", rng.pick(TIMEZONES)),
            17 => o.push(
                "avatar_url",
                format!(
                    "https://cdn.example.com/avatars/{:016x}/{}.png?size=256&v={}",
                    mix64(p.0),
                    p.0,
                    rng.range(1, 9)
                ),
            ),
            18 => o.push(
                "preferences",
                Obj::new()
                    .with(
                        "channels",
                        Obj::new()
                            .with("email", rng.chance(80))
                            .with("sms", rng.chance(30))
                            .with("push", rng.chance(50)),
                    )
                    .with(
                        "frequency",
                        rng.pick(&["daily", "weekly", "monthly", "jamais"]),
                    )
                    .with("categories", tags(rng)),
            ),
            19 => o.push(
                "signup",
                Obj::new()
                    .with(
                        "source",
                        rng.pick(&["google", "newsletter", "referral", "app store"]),
                    )
                    .with("campaign", rng.pick(CAMPAIGNS))
                    .with("at", {
                        let at = secs.saturating_sub(rng.below(90_000_000));
                        timestamp(rng, at)
                    }),
            ),
            20 => o.push("notes", vec![free_text(rng), free_text(rng)]),
            _ => o.push("employee_count", rng.range(1, 250_000)),
        }
    }
    o
}

/// Context-like properties that many event payloads carry: adds `n` distinct fields.
fn common_properties(rng: &mut Rng, o: &mut Obj, n: u64) {
    const KINDS: u64 = 8;
    let first = rng.below(KINDS);
    for i in 0..n.min(KINDS) {
        match (first + i) % KINDS {
            0 => o.push("session_id", anonymous_id(rng)),
            1 => o.push(
                "locale",
                rng.pick(&["fr-FR", "de-CH", "ja-JP", "pt-BR", "en-US", "zh-Hans-CN"]),
            ),
            2 => o.push("user_agent", rng.pick(USER_AGENTS)),
            3 => o.push("ip", format!("203.0.113.{}", rng.below(256))),
            4 => o.push("description", free_text(rng)),
            5 => o.push(
                "experiment",
                Obj::new()
                    .with("name", rng.pick(CAMPAIGNS))
                    .with("variant", rng.pick(&["control", "B", "variante-ç"])),
            ),
            6 => o.push("value", number(rng)),
            _ => o.push("landing_page", rng.pick(PAGE_URLS)),
        }
    }
}

/// Order lines: usually a few, now and then a long basket (the long tail of line sizes).
fn line_items(rng: &mut Rng) -> V {
    let n = if rng.chance(5) {
        rng.range(6, 20)
    } else {
        rng.range(1, 4)
    };
    V::Arr(
        (0..n)
            .map(|_| {
                Obj::new()
                    .with("sku", format!("SKU-{:05}", rng.below(100_000)))
                    .with("name", rng.pick(PRODUCTS))
                    .with("price", raw(rng.pick(PRICES)))
                    .with("quantity", rng.range(1, 5))
                    .into()
            })
            .collect(),
    )
}

/// Event properties for a track event: commerce, generic or deeply nested payloads.
fn track_properties(rng: &mut Rng) -> Obj {
    match rng.below(3) {
        0 => {
            let mut o = Obj::new()
                .with("order_id", format!("ORD-{}", rng.range(10_000, 999_999)))
                .with("total", raw(rng.pick(PRICES)))
                .with("currency", rng.pick(CURRENCIES))
                .with("items", line_items(rng));
            if rng.chance(30) {
                o.push("coupon", V::Null);
            }
            if rng.chance(50) {
                o.push(
                    "shipping",
                    Obj::new()
                        .with("method", "express")
                        .with("address", address(rng)),
                );
            }
            o
        }
        1 => Obj::new()
            .with("plan", rng.pick(PLANS))
            .with("note", free_text(rng))
            .with("count", rng.range(0, 500))
            .with("ratio", number(rng))
            .with(
                "flags",
                vec![V::from(rng.chance(50)), V::from(rng.chance(50)), V::Null],
            )
            .with("big_id", raw("12345678901234567890"))
            .with(
                "viewed",
                vec![V::from(rng.pick(PRODUCTS)), V::from(rng.pick(PRODUCTS))],
            ),
        _ => Obj::new()
            .with("source", rng.pick(&["web", "ios", "android", "api"]))
            .with("product", rng.pick(PRODUCTS))
            .with(
                "meta",
                Obj::new().with(
                    "nested",
                    Obj::new()
                        .with(
                            "deep",
                            vec![
                                V::from(1u64),
                                number(rng),
                                Obj::new().with("x", free_text(rng)).into(),
                            ],
                        )
                        .with("label", rng.pick(TAGS)),
                ),
            )
            .with("tags", tags(rng)),
    }
}

fn page_properties(rng: &mut Rng, url: &str) -> Obj {
    Obj::new()
        .with("url", url)
        .with(
            "title",
            rng.pick(&[
                "Tarifs — Example",
                "料金プラン | Example",
                "Pricing \"2024\"",
                "Blog: été 2023 ☀️",
            ]),
        )
        .with(
            "referrer",
            rng.pick(&[
                "https://www.google.com/",
                "",
                "https://t.co/abc123",
                "android-app://com.example",
            ]),
        )
        .with(
            "utm",
            Obj::new()
                .with("source", rng.pick(&["newsletter", "google", "twitter"]))
                .with("medium", rng.pick(&["email", "cpc", "social"]))
                .with(
                    "campaign",
                    rng.pick(&["spring_sale", "rentrée-2023", "黒い金曜日"]),
                ),
        )
}

fn screen_properties(rng: &mut Rng) -> Obj {
    Obj::new()
        .with(
            "screen_class",
            rng.pick(&["HomeViewController", "SettingsFragment", "CheckoutActivity"]),
        )
        .with(
            "app_version",
            format!(
                "{}.{}.{}",
                rng.range(1, 6),
                rng.range(0, 20),
                rng.range(0, 9)
            ),
        )
        .with("build", rng.range(100, 9999))
        .with("os", rng.pick(&["iOS 17.1", "Android 14", "iPadOS 16.6"]))
        .with("note", free_text(rng))
}

/// Name and properties of an event of the given kind (`page`, `screen`, else a track event).
fn event_payload(rng: &mut Rng, kind: &str) -> (String, Obj) {
    let (name, mut props) = match kind {
        "page" => {
            let url = rng.pick(PAGE_URLS);
            (url.to_owned(), page_properties(rng, url))
        }
        "screen" => (rng.pick(SCREEN_NAMES).to_owned(), screen_properties(rng)),
        _ => (event_name(rng), track_properties(rng)),
    };
    let n = rng.range(2, 8);
    common_properties(rng, &mut props, n);
    (name, props)
}

/// An event name, sometimes with surrounding whitespace (converters trim it).
fn event_name(rng: &mut Rng) -> String {
    let name = rng.pick(EVENT_NAMES);
    if rng.chance(5) {
        format!("  {name} ")
    } else {
        name.to_owned()
    }
}

/// Standard NDJSON envelope keys besides method/path/body: call time and logging noise.
fn envelope_meta(rng: &mut Rng, secs: u64) -> Obj {
    let mut m = Obj::new();
    match rng.below(100) {
        0..85 => m.push("received_at", received_at(rng, secs)),
        85..90 => m.push("sent_at", received_at(rng, secs)),
        90..93 => m.push("timestamp", received_at(rng, secs)),
        _ => {}
    }
    if rng.chance(60) {
        m.push("status", 200u64);
    }
    if rng.chance(40) {
        m.push("request_id", format!("req_{:016x}", rng.next_u64()));
    }
    if rng.chance(35) {
        m.push(
            "headers",
            Obj::new()
                .with("user-agent", rng.pick(USER_AGENTS))
                .with("content-type", "application/json")
                .with("x-forwarded-for", format!("198.51.100.{}", rng.below(256))),
        );
    }
    m
}

/// An HTTP call envelope with the usual variations (lower-case method, `url`, string body).
fn call(rng: &mut Rng, method: &'static str, path: String, body: Option<V>, secs: u64) -> Record {
    let method = if rng.chance(2) {
        match method {
            "POST" => "post",
            "PUT" => "put",
            "DELETE" => "delete",
            other => other,
        }
    } else {
        method
    };
    Record::Call(Call {
        method,
        path,
        use_url: rng.chance(3),
        body_as_text: body.is_some() && rng.chance(3),
        body,
        meta: envelope_meta(rng, secs),
    })
}

// ------------------------------------------------------------------------------------------
// Call families
// ------------------------------------------------------------------------------------------

/// v1 `POST /api/v1/customers/{id}/events` (track/page/screen) and anonymous
/// `POST /api/v1/events`.
fn v1_event(rng: &mut Rng) -> Record {
    let secs = random_secs(rng);
    let anonymous = rng.chance(10);
    let path = if anonymous {
        v1_path(rng, "/events")
    } else {
        let p = Person::random(rng);
        let seg = v1_identifier_segment(rng, p);
        v1_path(rng, &format!("/customers/{seg}/events"))
    };
    let kind = rng.weighted(&[
        (75, None),
        (5, Some("event")),
        (13, Some("page")),
        (7, Some("screen")),
    ]);
    let (name, data) = event_payload(rng, kind.unwrap_or("event"));

    let mut body = Obj::new().with("name", name);
    if let Some(k) = kind {
        body.push("type", k);
    }
    match rng.below(100) {
        0..30 => body.push("id", ulid(rng, secs * 1000)),
        30..33 => body.push("id", format!("evt_{:x}", rng.next_u64() >> 20)),
        _ => {}
    }
    if anonymous {
        if rng.chance(95) {
            body.push("anonymous_id", anonymous_id(rng));
        } else {
            // An "invite" event: no person, sent to data.recipient.
            body.push("data", data.with("recipient", Person::random(rng).email()));
            return call(rng, "POST", path, Some(body.into()), secs);
        }
    }
    if rng.chance(85) {
        body.push("timestamp", timestamp(rng, secs));
    }
    body.push("data", data);
    call(rng, "POST", path, Some(body.into()), secs)
}

/// v1 `cio_relationships` in the v1 object form (sometimes as a bare v2-style array).
fn v1_relationships(rng: &mut Rng) -> V {
    let n = rng.range(1, 3);
    let rels: Vec<V> = (0..n)
        .map(|_| {
            let mut r = Obj::new().with("identifiers", object_identifiers(rng));
            if rng.chance(30) {
                r.push(
                    "relationship_attributes",
                    Obj::new()
                        .with("role", rng.pick(&["admin", "member", "propriétaire"]))
                        .with("seats", rng.range(1, 50)),
                );
            }
            r.into()
        })
        .collect();
    match rng.below(100) {
        0..80 => Obj::new()
            .with("action", "add_relationships")
            .with("relationships", rels)
            .into(),
        80..90 => Obj::new()
            .with("action", "delete_relationships")
            .with("relationships", rels)
            .into(),
        90..95 => Obj::new().with("relationships", rels).into(),
        _ => V::Arr(rels),
    }
}

/// v1 `PUT /api/v1/customers/{identifier}` (identify).
fn v1_identify(rng: &mut Rng) -> Record {
    let secs = random_secs(rng);
    let p = Person::random(rng);
    let seg = v1_identifier_segment(rng, p);
    let path = v1_path(rng, &format!("/customers/{seg}"));

    let mut body = Obj::new();
    if rng.chance(70) {
        body.push("email", p.email());
    }
    if rng.chance(10) {
        body.push("id", p.id());
    }
    if rng.chance(60) {
        let created = secs.saturating_sub(rng.below(50_000_000));
        body.push("created_at", timestamp(rng, created));
    }
    let n = rng.range(4, 14);
    body.0.extend(person_attributes(rng, p, n, secs).0);
    if rng.chance(15) {
        body.push("_timestamp", timestamp(rng, secs));
    }
    if rng.chance(8) {
        body.push("anonymous_id", anonymous_id(rng));
    }
    if rng.chance(10) {
        body.push("_update", true);
    }
    if rng.chance(10) {
        body.push("unsubscribed", rng.chance(30));
    }
    if rng.chance(5) {
        body.push(
            "cio_subscription_preferences",
            Obj::new().with(
                "topics",
                Obj::new()
                    .with("topic_1", true)
                    .with("topic_2", false)
                    .with("topic_5", rng.chance(50)),
            ),
        );
    }
    if rng.chance(20) {
        body.push("cio_relationships", v1_relationships(rng));
    }
    call(rng, "PUT", path, Some(body.into()), secs)
}

/// v2 relationship array for person/object entities.
fn v2_relationships(rng: &mut Rng, to_people: bool, min: u64) -> Vec<V> {
    let n = rng.range(min, 3);
    (0..n)
        .map(|_| {
            let ids = if to_people {
                let p = Person::random(rng);
                person_identifiers(rng, p)
            } else {
                object_identifiers(rng)
            };
            let mut r = Obj::new().with("identifiers", ids);
            if rng.chance(30) {
                r.push(
                    "relationship_attributes",
                    Obj::new()
                        .with("role", rng.pick(&["owner", "viewer", "rédacteur"]))
                        .with("since", {
                            let since = random_secs(rng);
                            timestamp(rng, since)
                        }),
                );
            }
            r.into()
        })
        .collect()
}

/// A bare v2 entity: mostly person, some object (occasionally spelled `group`) and delivery.
fn v2_entity(rng: &mut Rng) -> V {
    match rng.below(100) {
        0..85 => v2_person(rng),
        85..97 => v2_object(rng),
        _ => v2_delivery(rng),
    }
}

fn v2_person(rng: &mut Rng) -> V {
    let secs = random_secs(rng);
    let p = Person::random(rng);
    let action = rng.weighted(&[
        (33, "identify"),
        (40, "event"),
        (9, "page"),
        (5, "screen"),
        (4, "add_relationships"),
        (1, "delete_relationships"),
        (3, "add_device"),
        (1, "delete_device"),
        (1, "delete"),
        (1, "suppress"),
        (1, "unsuppress"),
        (1, "merge"),
    ]);
    if action == "merge" {
        return Obj::new()
            .with("type", "person")
            .with("action", "merge")
            .with("primary", Obj::new().with("id", p.id()))
            .with(
                "secondary",
                Obj::new().with("email", Person::random(rng).email()),
            )
            .into();
    }
    let identifiers = match action {
        "event" | "page" | "screen" if rng.chance(8) => {
            Obj::new().with("anonymous_id", anonymous_id(rng))
        }
        _ => person_identifiers(rng, p),
    };
    let mut e = Obj::new()
        .with("type", "person")
        .with("identifiers", identifiers)
        .with("action", action);
    match action {
        "identify" => {
            if rng.chance(90) {
                e.push("timestamp", timestamp(rng, secs));
            }
            let n = rng.range(5, 14);
            e.push("attributes", person_attributes(rng, p, n, secs));
            if rng.chance(15) {
                e.push("cio_relationships", v2_relationships(rng, false, 1));
            }
        }
        "event" | "page" | "screen" => {
            let (name, attrs) = event_payload(rng, action);
            e.push("name", name);
            if rng.chance(35) {
                let ms = secs * 1000 + rng.below(1000);
                e.push("id", ulid(rng, ms));
            }
            if rng.chance(90) {
                e.push("timestamp", timestamp(rng, secs));
            }
            e.push("attributes", attrs);
        }
        "add_relationships" | "delete_relationships" => {
            e.push("cio_relationships", v2_relationships(rng, false, 1));
        }
        "add_device" => {
            let mut d = Obj::new()
                .with("token", device_token(rng))
                .with("platform", rng.pick(&["ios", "android"]));
            if rng.chance(70) {
                d.push("last_used", timestamp(rng, secs));
            }
            d.push(
                "attributes",
                Obj::new()
                    .with("app_version", "4.2.1")
                    .with(
                        "device_model",
                        rng.pick(&["iPhone15,2", "Pixel 8", "SM-S918B"]),
                    )
                    .with("push_enabled", "true"),
            );
            e.push("device", d);
            e.push("timestamp", timestamp(rng, secs));
        }
        "delete_device" => e.push("device", Obj::new().with("token", device_token(rng))),
        _ => {
            if rng.chance(50) {
                e.push("timestamp", timestamp(rng, secs));
            }
        }
    }
    e.into()
}

fn v2_object(rng: &mut Rng) -> V {
    let secs = random_secs(rng);
    let action = rng.weighted(&[
        (60, "identify"),
        (5, "identify_anonymous"),
        (15, "add_relationships"),
        (5, "delete_relationships"),
        (15, "delete"),
    ]);
    let ty = if rng.chance(10) { "group" } else { "object" };
    let mut e = Obj::new()
        .with("type", ty)
        .with("identifiers", object_identifiers(rng))
        .with("action", action);
    match action {
        "identify" => {
            e.push("timestamp", timestamp(rng, secs));
            e.push(
                "attributes",
                Obj::new()
                    .with("name", rng.pick(OBJECT_NAMES))
                    .with("industry", rng.pick(INDUSTRIES))
                    .with("employees", rng.range(1, 100_000))
                    .with("mrr", raw(rng.pick(PRICES)))
                    .with("website", "https://www.example.com/entreprises/société")
                    .with("plan", rng.pick(PLANS))
                    .with("address", address(rng))
                    .with("description", free_text(rng)),
            );
            if rng.chance(70) {
                e.push("cio_relationships", v2_relationships(rng, true, 0));
            }
        }
        "identify_anonymous" => {
            e.push("anonymous_id", anonymous_id(rng));
            e.push(
                "attributes",
                Obj::new()
                    .with("name", rng.pick(OBJECT_NAMES))
                    .with("trial", true),
            );
        }
        "add_relationships" | "delete_relationships" => {
            e.push("cio_relationships", v2_relationships(rng, true, 1));
        }
        _ => {}
    }
    e.into()
}

fn v2_delivery(rng: &mut Rng) -> V {
    let secs = random_secs(rng);
    let mut attrs = Obj::new().with("device_token", device_token(rng));
    if rng.chance(40) {
        attrs.push(
            "href",
            "https://www.example.com/promo?utm_campaign=été&id=42",
        );
    }
    if rng.chance(20) {
        attrs.push("reason", "Mailbox full — «quota exceeded»");
    }
    Obj::new()
        .with("type", "delivery")
        .with("identifiers", Obj::new().with("id", delivery_id(rng)))
        .with("action", "event")
        .with("name", rng.pick(DELIVERY_METRICS))
        .with("timestamp", timestamp(rng, secs))
        .with("attributes", attrs)
        .into()
}

/// The rarer Track calls: merges, suppressions, devices, deletes, metrics and v2 batches.
fn other_call(rng: &mut Rng) -> Record {
    let secs = random_secs(rng);
    let p = Person::random(rng);
    let kind = rng.weighted(&[
        (12, "merge"),
        (8, "suppress"),
        (4, "unsuppress"),
        (15, "device_put"),
        (8, "device_delete"),
        (8, "customer_delete"),
        (12, "metrics"),
        (5, "push_events"),
        (25, "batch"),
        (3, "entity_call"),
    ]);
    match kind {
        "merge" => {
            let body = Obj::new()
                .with("primary", Obj::new().with("id", p.id()))
                .with(
                    "secondary",
                    if rng.chance(50) {
                        Obj::new().with("email", Person::random(rng).email())
                    } else {
                        Obj::new().with("cio_id", Person::random(rng).cio_id())
                    },
                );
            let path = v1_path(rng, "/merge_customers");
            call(rng, "POST", path, Some(body.into()), secs)
        }
        "suppress" | "unsuppress" => {
            let seg = v1_identifier_segment(rng, p);
            let path = v1_path(rng, &format!("/customers/{seg}/{kind}"));
            call(rng, "POST", path, None, secs)
        }
        "device_put" => {
            let seg = v1_identifier_segment(rng, p);
            let path = v1_path(rng, &format!("/customers/{seg}/devices"));
            let mut device = Obj::new()
                .with("id", device_token(rng))
                .with("platform", rng.pick(&["ios", "android"]));
            if rng.chance(80) {
                device.push("last_used", timestamp(rng, secs));
            }
            device.push(
                "attributes",
                Obj::new()
                    .with("app_version", "4.2.1")
                    .with("_last_status", rng.pick(&["", "bounced", "sent"]))
                    .with("langue", "français"),
            );
            if rng.chance(30) {
                device.push("device_os", "iOS 17.1");
            }
            call(
                rng,
                "PUT",
                path,
                Some(Obj::new().with("device", device).into()),
                secs,
            )
        }
        "device_delete" => {
            let seg = v1_identifier_segment(rng, p);
            let token = percent_encode(&device_token(rng));
            let path = v1_path(rng, &format!("/customers/{seg}/devices/{token}"));
            call(rng, "DELETE", path, None, secs)
        }
        "customer_delete" => {
            let seg = v1_identifier_segment(rng, p);
            let path = v1_path(rng, &format!("/customers/{seg}"));
            call(rng, "DELETE", path, None, secs)
        }
        "metrics" => {
            let mut body = Obj::new()
                .with("delivery_id", delivery_id(rng))
                .with("timestamp", timestamp(rng, secs))
                .with("metric", rng.pick(DELIVERY_METRICS))
                .with("recipient", p.email());
            if rng.chance(30) {
                body.push("href", "https://www.example.com/café?ref=email");
            }
            if rng.chance(15) {
                body.push("reason", "550 5.1.1 \"User unknown\"");
            }
            let path = v1_path(rng, "/metrics");
            call(rng, "POST", path, Some(body.into()), secs)
        }
        "push_events" => {
            let body = Obj::new()
                .with("delivery_id", delivery_id(rng))
                .with("event", rng.pick(&["opened", "converted", "delivered"]))
                .with("device_id", device_token(rng))
                .with("timestamp", timestamp(rng, secs));
            let path = if rng.chance(50) {
                "/push/events".to_owned()
            } else {
                v1_path(rng, "/push/events")
            };
            call(rng, "POST", path, Some(body.into()), secs)
        }
        "batch" => {
            let n = rng.range(2, 5);
            let batch: V = Obj::new()
                .with("batch", (0..n).map(|_| v2_entity(rng)).collect::<Vec<_>>())
                .into();
            if rng.chance(60) {
                Record::Batch(batch)
            } else {
                call(rng, "POST", "/api/v2/batch".to_owned(), Some(batch), secs)
            }
        }
        _ => {
            let entity = v2_entity(rng);
            call(rng, "POST", "/api/v2/entity".to_owned(), Some(entity), secs)
        }
    }
}

/// Deliberately bad lines: truncated JSON, text that is not JSON, unknown shapes, missing
/// identifiers and bad timestamps.
fn malformed(rng: &mut Rng) -> Record {
    match rng.below(100) {
        0..30 => {
            let inner = match rng.below(3) {
                0 => v1_event(rng),
                1 => v1_identify(rng),
                _ => Record::Entity(v2_entity(rng)),
            };
            Record::Truncated(Box::new(inner), rng.range(200, 950))
        }
        30..40 => {
            // A Python dict logged with repr(): single quotes, not JSON.
            let p = Person::random(rng);
            let body = format!(
                "{{'name': '{}', 'data': {{'plan': 'pro', 'trial': True}}}}",
                rng.pick(EVENT_NAMES)
            );
            let path = format!("/api/v1/customers/{}/events", p.id());
            let secs = random_secs(rng);
            call(rng, "POST", path, Some(raw_owned(body)), secs)
        }
        40..60 => Record::Entity(unknown_shape(rng)),
        60..80 => missing_identifier(rng),
        _ => bad_timestamp(rng),
    }
}

fn unknown_shape(rng: &mut Rng) -> V {
    let p = Person::random(rng);
    match rng.below(5) {
        // A Segment-style call that is not a Track call.
        0 => Obj::new()
            .with("event", rng.pick(EVENT_NAMES))
            .with("userId", p.id())
            .with("properties", track_properties(rng))
            .into(),
        1 => V::Arr(vec![
            V::from("not"),
            V::from("an"),
            V::from("object"),
            V::from(42u64),
        ]),
        2 => Obj::new()
            .with("type", "customer")
            .with("identifiers", Obj::new().with("id", p.id()))
            .with("action", "identify")
            .with("attributes", {
                let secs = random_secs(rng);
                person_attributes(rng, p, 3, secs)
            })
            .into(),
        3 => V::from("just a string"),
        _ => Obj::new()
            .with("batch", Obj::new().with("oops", true))
            .into(),
    }
}

fn missing_identifier(rng: &mut Rng) -> Record {
    let secs = random_secs(rng);
    match rng.below(3) {
        0 => {
            let body = Obj::new()
                .with("name", event_name(rng))
                .with("timestamp", timestamp(rng, secs))
                .with("data", track_properties(rng));
            call(
                rng,
                "POST",
                "/api/v1/customers//events".to_owned(),
                Some(body.into()),
                secs,
            )
        }
        1 => Record::Entity(
            Obj::new()
                .with("type", "person")
                .with("identifiers", Obj::new())
                .with("action", "identify")
                .with("attributes", {
                    let p = Person::random(rng);
                    person_attributes(rng, p, 2, secs)
                })
                .into(),
        ),
        _ => Record::Entity(
            Obj::new()
                .with("type", "person")
                .with("identifiers", Obj::new().with("id", ""))
                .with("action", "event")
                .with("name", event_name(rng))
                .with("timestamp", timestamp(rng, secs))
                .into(),
        ),
    }
}

fn bad_timestamp(rng: &mut Rng) -> Record {
    let secs = random_secs(rng);
    let bad = match rng.below(6) {
        0 => V::from("yesterday"),
        1 => raw("-1"),
        2 => V::Bool(true),
        3 => V::from("2023-02-30T25:61:00Z"),
        4 => V::from("99999999999999999999"),
        _ => Obj::new().with("seconds", secs).into(),
    };
    let p = Person::random(rng);
    if rng.chance(50) {
        let body = Obj::new()
            .with("name", event_name(rng))
            .with("timestamp", bad)
            .with("data", track_properties(rng));
        let seg = v1_identifier_segment(rng, p);
        let path = v1_path(rng, &format!("/customers/{seg}/events"));
        call(rng, "POST", path, Some(body.into()), secs)
    } else {
        Record::Entity(
            Obj::new()
                .with("type", "person")
                .with("identifiers", person_identifiers(rng, p))
                .with("action", "event")
                .with("name", event_name(rng))
                .with("timestamp", bad)
                .with("attributes", track_properties(rng))
                .into(),
        )
    }
}

// ------------------------------------------------------------------------------------------
// Output formats
// ------------------------------------------------------------------------------------------

/// Appends one NDJSON line (with its `\n`).
fn render_ndjson(rec: &Record, out: &mut Vec<u8>) {
    render_ndjson_value(rec, out);
    out.push(b'\n');
}

fn render_ndjson_value(rec: &Record, out: &mut Vec<u8>) {
    match rec {
        Record::Call(c) => {
            out.extend_from_slice(b"{\"method\":");
            write_json_str(c.method, out);
            if c.use_url {
                out.extend_from_slice(b",\"url\":");
                write_json_str(&format!("https://track.customer.io{}", c.path), out);
            } else {
                out.extend_from_slice(b",\"path\":");
                write_json_str(&c.path, out);
            }
            if let Some(body) = &c.body {
                out.extend_from_slice(b",\"body\":");
                if c.body_as_text {
                    write_json_str(&String::from_utf8(to_json(body)).expect("UTF-8"), out);
                } else {
                    write_json(body, out);
                }
            }
            for (k, v) in &c.meta.0 {
                out.push(b',');
                write_json_str(k, out);
                out.push(b':');
                write_json(v, out);
            }
            out.push(b'}');
        }
        Record::Entity(v) | Record::Batch(v) => write_json(v, out),
        Record::Truncated(inner, permille) => {
            let mut full = Vec::new();
            render_ndjson_value(inner, &mut full);
            out.extend_from_slice(truncate(&full, *permille));
        }
    }
}

/// Cuts JSON text to `permille`/1000 of its length, at a UTF-8 boundary, always dropping at
/// least the final byte (so an object's closing brace is gone and the text is invalid).
fn truncate(text: &[u8], permille: u64) -> &[u8] {
    let mut cut = ((text.len() as u64 * permille / 1000) as usize).clamp(1, text.len() - 1);
    while cut > 1 && (text[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    &text[..cut]
}

/// The CSV row of a record in the HTTP-calls layout (docs/mapping.md): method, path, body JSON.
fn csv_row(rec: &Record) -> (&'static str, String, Vec<u8>) {
    match rec {
        Record::Call(c) => (
            c.method,
            c.path.clone(),
            c.body.as_ref().map(to_json).unwrap_or_default(),
        ),
        Record::Entity(v) => ("POST", "/api/v2/entity".to_owned(), to_json(v)),
        Record::Batch(v) => ("POST", "/api/v2/batch".to_owned(), to_json(v)),
        Record::Truncated(inner, permille) => {
            let (method, path, body) = csv_row(inner);
            let cut = truncate(&body, *permille).to_vec();
            (method, path, cut)
        }
    }
}

/// Appends one CSV row (with its `\n`).
fn render_csv(rec: &Record, out: &mut Vec<u8>) {
    let (method, path, body) = csv_row(rec);
    csv_cell(method.as_bytes(), out);
    out.push(b',');
    csv_cell(path.as_bytes(), out);
    out.push(b',');
    csv_cell(&body, out);
    out.push(b'\n');
}

/// RFC 4180 quoting: a cell holding `"`, `,`, CR or LF is quoted, its quotes doubled.
fn csv_cell(cell: &[u8], out: &mut Vec<u8>) {
    if !cell
        .iter()
        .any(|b| matches!(b, b'"' | b',' | b'\r' | b'\n'))
    {
        out.extend_from_slice(cell);
        return;
    }
    out.push(b'"');
    for &b in cell {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

// ------------------------------------------------------------------------------------------
// Main
// ------------------------------------------------------------------------------------------

fn main() -> io::Result<()> {
    let args = Args::parse();
    if !(args.size_mb > 0.0 && args.size_mb.is_finite()) {
        eprintln!("--size-mb must be a positive number");
        std::process::exit(2);
    }
    let target = (args.size_mb * 1_048_576.0).ceil() as u64;

    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(File::create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);

    let started = Instant::now();
    let mut rng = Rng::new(args.seed);
    let mut line = Vec::with_capacity(4096);
    let mut written = 0u64;
    let mut lines = 0u64;
    let mut by_family = [0u64; FAMILIES.len()];

    if args.format == Format::Csv {
        out.write_all(b"method,path,body\n")?;
        written += 17;
    }
    while written < target {
        let (family, record) = generate(&mut rng);
        line.clear();
        match args.format {
            Format::Ndjson => render_ndjson(&record, &mut line),
            Format::Csv => render_csv(&record, &mut line),
        }
        out.write_all(&line)?;
        written += line.len() as u64;
        lines += 1;
        by_family[family as usize] += 1;
    }
    out.flush()?;

    let secs = started.elapsed().as_secs_f64();
    let what = if args.format == Format::Csv {
        "rows (plus header)"
    } else {
        "lines"
    };
    eprintln!(
        "gen_corpus: {lines} {what}, {written} bytes, average {:.1} bytes/line, {:.2} s ({:.0} MiB/s)",
        written as f64 / lines as f64,
        secs,
        written as f64 / 1_048_576.0 / secs.max(1e-9)
    );
    let mix: Vec<String> = FAMILIES
        .iter()
        .zip(by_family)
        .map(|(name, n)| format!("{name} {:.1}%", n as f64 * 100.0 / lines as f64))
        .collect();
    eprintln!("gen_corpus: mix: {}", mix.join(", "));
    Ok(())
}
