//! Deterministic knowledge graphs for the demo, the benchmarks and the tests.
//!
//! Everything here is a pure function of its seed: same seed, same bytes. Graphs are built
//! through [`KnowledgeGraph`]'s own editing methods (with explicit timestamps and seeded
//! ids), so they are in the application's exact layout and pass
//! [`KnowledgeGraph::check_consistency`].
//!
//! - [`sized_graph`]: a large graph of a chosen node count for benchmarks.
//! - [`graph_near_bytes`]: the same, sized by the length of its file.
//! - [`demo_history`]: a small financial graph as a series of saves for the demo store.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use crate::graph::pyjson::{float_repr, str_literal};
use crate::graph::{KnowledgeGraph, SaveStamp, python_timestamp};

/// splitmix64 (Steele, Lea and Flood): tiny, fast, and good enough to make test data
/// look varied.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for test data, and no division.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A float in `[low, high)`, rounded to `decimals` places as a person would write it.
    pub fn round_between(&mut self, low: f64, high: f64, decimals: i32) -> f64 {
        let scale = 10f64.powi(decimals);
        ((low + (high - low) * self.unit()) * scale).round() / scale
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of `items`; `None` when there are none.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Builds one JSON object's text in insertion order, as a Python dict literal would be
/// written; non-finite floats come out as Python's bare tokens.
struct Obj {
    text: String,
    empty: bool,
}

impl Obj {
    fn new() -> Self {
        Obj {
            text: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.text.push_str(", ");
        }
        self.empty = false;
        self.text.push_str(&str_literal(key));
        self.text.push_str(": ");
    }

    fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        self.text.push_str(&str_literal(value));
        self
    }

    fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        self.text.push_str(&value.to_string());
        self
    }

    fn float(mut self, key: &str, value: f64) -> Self {
        self.key(key);
        self.text.push_str(&float_repr(value));
        self
    }

    fn null(mut self, key: &str) -> Self {
        self.key(key);
        self.text.push_str("null");
        self
    }

    /// A value that is already JSON text.
    fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.text.push_str(json);
        self
    }

    fn done(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

fn str_array<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| str_literal(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

fn float_array(items: &[f64]) -> String {
    let parts: Vec<String> = items.iter().map(|x| float_repr(*x)).collect();
    format!("[{}]", parts.join(", "))
}

/// Midnight, 1 October 2025: the generated graphs' epoch.
fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 10, 1)
        .and_then(|d| d.and_hms_opt(9, 30, 0))
        .unwrap_or_default()
}

fn stamp_at(t: NaiveDateTime) -> String {
    python_timestamp(&t)
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

/// GICS sectors: (id suffix, name, GICS code, sector ETF).
const SECTORS: [(&str, &str, i64, &str); 11] = [
    ("technology", "Information Technology", 45, "XLK"),
    ("health_care", "Health Care", 35, "XLV"),
    ("financials", "Financials", 40, "XLF"),
    (
        "consumer_discretionary",
        "Consumer Discretionary",
        25,
        "XLY",
    ),
    (
        "communication_services",
        "Communication Services",
        50,
        "XLC",
    ),
    ("industrials", "Industrials", 20, "XLI"),
    ("consumer_staples", "Consumer Staples", 30, "XLP"),
    ("energy", "Energy", 10, "XLE"),
    ("utilities", "Utilities", 55, "XLU"),
    ("real_estate", "Real Estate", 60, "XLRE"),
    ("materials", "Materials", 15, "XLB"),
];

/// Economic indicators: (id, name, unit, frequency, source, typical value, spread).
const INDICATORS: [(&str, &str, &str, &str, &str, f64, f64); 12] = [
    (
        "CPI",
        "Consumer Price Index",
        "% y/y",
        "monthly",
        "BLS",
        3.0,
        0.4,
    ),
    (
        "CORE_PCE",
        "Core PCE Price Index",
        "% y/y",
        "monthly",
        "BEA",
        2.8,
        0.3,
    ),
    (
        "GDP_GROWTH",
        "Real GDP Growth",
        "% q/q saar",
        "quarterly",
        "BEA",
        2.1,
        1.2,
    ),
    (
        "UNEMPLOYMENT_RATE",
        "Unemployment Rate",
        "%",
        "monthly",
        "BLS",
        4.2,
        0.3,
    ),
    (
        "FED_FUNDS_RATE",
        "Federal Funds Rate",
        "%",
        "8 meetings/yr",
        "Federal Reserve",
        4.25,
        0.25,
    ),
    (
        "TREASURY_10Y",
        "10-Year Treasury Yield",
        "%",
        "daily",
        "US Treasury",
        4.1,
        0.3,
    ),
    (
        "ISM_PMI",
        "ISM Manufacturing PMI",
        "index",
        "monthly",
        "ISM",
        48.7,
        2.0,
    ),
    (
        "RETAIL_SALES",
        "Retail Sales",
        "% m/m",
        "monthly",
        "Census Bureau",
        0.4,
        0.5,
    ),
    (
        "NONFARM_PAYROLLS",
        "Nonfarm Payrolls",
        "thousands",
        "monthly",
        "BLS",
        142.0,
        60.0,
    ),
    (
        "CONSUMER_SENTIMENT",
        "Consumer Sentiment",
        "index",
        "monthly",
        "University of Michigan",
        68.0,
        4.0,
    ),
    (
        "HOUSING_STARTS",
        "Housing Starts",
        "thousands saar",
        "monthly",
        "Census Bureau",
        1310.0,
        80.0,
    ),
    (
        "OIL_WTI",
        "WTI Crude Oil",
        "USD/bbl",
        "daily",
        "EIA",
        71.0,
        6.0,
    ),
];

/// Which sectors each indicator moves most.
const INDICATOR_SECTORS: [&[usize]; 12] = [
    &[6, 3],
    &[6, 8],
    &[5, 3],
    &[3, 6],
    &[2, 9],
    &[9, 8, 2],
    &[5, 10],
    &[3, 6],
    &[5, 3],
    &[3],
    &[9, 10],
    &[7, 5],
];

/// Listed companies: (ticker, name, sector index, price, market cap in billions USD,
/// headquarters city, country).
const COMPANIES: [(&str, &str, usize, f64, f64, &str, &str); 40] = [
    ("AAPL", "Apple Inc.", 0, 227.52, 3450.0, "Cupertino", "US"),
    (
        "MSFT",
        "Microsoft Corporation",
        0,
        428.15,
        3180.0,
        "Redmond",
        "US",
    ),
    (
        "NVDA",
        "NVIDIA Corporation",
        0,
        118.85,
        2920.0,
        "Santa Clara",
        "US",
    ),
    (
        "GOOGL",
        "Alphabet Inc.",
        4,
        163.24,
        2010.0,
        "Mountain View",
        "US",
    ),
    (
        "AMZN",
        "Amazon.com, Inc.",
        3,
        186.4,
        1950.0,
        "Seattle",
        "US",
    ),
    (
        "META",
        "Meta Platforms, Inc.",
        4,
        567.84,
        1430.0,
        "Menlo Park",
        "US",
    ),
    ("TSLA", "Tesla, Inc.", 3, 238.77, 760.0, "Austin", "US"),
    (
        "JPM",
        "JPMorgan Chase & Co.",
        2,
        221.3,
        630.0,
        "New York",
        "US",
    ),
    ("V", "Visa Inc.", 2, 288.04, 560.0, "San Francisco", "US"),
    (
        "UNH",
        "UnitedHealth Group",
        1,
        585.2,
        540.0,
        "Minnetonka",
        "US",
    ),
    (
        "XOM",
        "Exxon Mobil Corporation",
        7,
        117.4,
        520.0,
        "Spring",
        "US",
    ),
    (
        "JNJ",
        "Johnson & Johnson",
        1,
        161.9,
        390.0,
        "New Brunswick",
        "US",
    ),
    ("WMT", "Walmart Inc.", 6, 80.6, 650.0, "Bentonville", "US"),
    (
        "PG",
        "Procter & Gamble",
        6,
        171.3,
        400.0,
        "Cincinnati",
        "US",
    ),
    ("HD", "The Home Depot", 3, 401.2, 400.0, "Atlanta", "US"),
    (
        "CVX",
        "Chevron Corporation",
        7,
        147.8,
        270.0,
        "Houston",
        "US",
    ),
    (
        "LLY",
        "Eli Lilly and Company",
        1,
        903.1,
        810.0,
        "Indianapolis",
        "US",
    ),
    (
        "KO",
        "The Coca-Cola Company",
        6,
        71.2,
        307.0,
        "Atlanta",
        "US",
    ),
    ("AVGO", "Broadcom Inc.", 0, 168.3, 785.0, "Palo Alto", "US"),
    (
        "AMD",
        "Advanced Micro Devices",
        0,
        153.6,
        249.0,
        "Santa Clara",
        "US",
    ),
    (
        "INTC",
        "Intel Corporation",
        0,
        23.1,
        99.0,
        "Santa Clara",
        "US",
    ),
    ("NFLX", "Netflix, Inc.", 4, 709.3, 304.0, "Los Gatos", "US"),
    ("BAC", "Bank of America", 2, 39.7, 307.0, "Charlotte", "US"),
    (
        "GS",
        "The Goldman Sachs Group",
        2,
        495.1,
        157.0,
        "New York",
        "US",
    ),
    ("CAT", "Caterpillar Inc.", 5, 391.1, 189.0, "Irving", "US"),
    (
        "BA",
        "The Boeing Company",
        5,
        152.0,
        93.0,
        "Arlington",
        "US",
    ),
    ("NEE", "NextEra Energy", 8, 84.5, 174.0, "Juno Beach", "US"),
    ("DUK", "Duke Energy", 8, 115.3, 89.0, "Charlotte", "US"),
    (
        "PLD",
        "Prologis, Inc.",
        9,
        126.3,
        117.0,
        "San Francisco",
        "US",
    ),
    ("AMT", "American Tower", 9, 232.6, 109.0, "Boston", "US"),
    ("LIN", "Linde plc", 10, 476.9, 228.0, "Woking", "GB"),
    ("NEM", "Newmont Corporation", 10, 53.4, 61.0, "Denver", "US"),
    ("COP", "ConocoPhillips", 7, 105.3, 123.0, "Houston", "US"),
    ("PFE", "Pfizer Inc.", 1, 28.9, 164.0, "New York", "US"),
    ("NKE", "Nike, Inc.", 3, 88.4, 133.0, "Beaverton", "US"),
    (
        "MCD",
        "McDonald's Corporation",
        3,
        304.5,
        218.0,
        "Chicago",
        "US",
    ),
    ("NESN", "Nestl\u{e9} S.A.", 6, 86.2, 227.0, "Vevey", "CH"),
    ("SIE", "Siemens AG", 5, 187.4, 149.0, "M\u{fc}nchen", "DE"),
    (
        "7203",
        "Toyota Motor Corporation",
        3,
        2680.0,
        276.0,
        "\u{8c4a}\u{7530}\u{5e02}",
        "JP",
    ),
    (
        "MC",
        "LVMH Mo\u{eb}t Hennessy Louis Vuitton",
        3,
        652.3,
        327.0,
        "Paris",
        "FR",
    ),
];

const NAME_STARTS: [&str; 22] = [
    "Apex",
    "Bluewater",
    "Cedar",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nova",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Summit",
    "Tidal",
    "Vertex",
    "Willow",
    "Zenith",
];

const NAME_ENDS: [&str; 11] = [
    "Systems",
    "Therapeutics",
    "Capital",
    "Brands",
    "Media",
    "Industries",
    "Foods",
    "Energy",
    "Power",
    "Realty",
    "Materials",
];

const CITIES: [(&str, &str); 12] = [
    ("Z\u{fc}rich", "CH"),
    ("S\u{e3}o Paulo", "BR"),
    ("Montr\u{e9}al", "CA"),
    ("\u{6771}\u{4eac}", "JP"),
    ("M\u{fc}nchen", "DE"),
    ("Austin", "US"),
    ("Boston", "US"),
    ("Chicago", "US"),
    ("Toronto", "CA"),
    ("London", "GB"),
    ("Singapore", "SG"),
    ("Denver", "US"),
];

const FIRST_NAMES: [&str; 20] = [
    "Alice", "Marcus", "Priya", "Daniel", "Sofia", "Kenji", "Laura", "Omar", "Elena", "Thomas",
    "Grace", "Rafael", "Ingrid", "Samuel", "Mei", "Victor", "Hannah", "Luca", "Amara", "Jonas",
];

const LAST_NAMES: [&str; 16] = [
    "Whitfield",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Castillo",
    "Novak",
    "Brennan",
    "Haddad",
    "Fischer",
    "Romero",
    "Kowalski",
    "Adeyemi",
    "S\u{f8}rensen",
    "M\u{fc}ller",
    "Ib\u{e1}\u{f1}ez",
];

/// Event kinds: (category, title pattern with `{}` for the subject, impact).
const EVENT_KINDS: [(&str, &str, &str); 8] = [
    ("earnings", "Quarterly earnings: {}", "positive"),
    ("guidance", "Guidance cut: {}", "negative"),
    ("product", "Product launch: {}", "positive"),
    ("regulatory", "Regulatory probe into {}", "negative"),
    ("merger", "Merger talks: {}", "positive"),
    ("macro", "FOMC rate decision ({})", "neutral"),
    ("commodity", "OPEC+ output change ({})", "negative"),
    ("labor", "Strike at {}", "negative"),
];

// ---------------------------------------------------------------------------------------------
// Payloads

struct CompanySpec {
    ticker: String,
    name: String,
    sector: usize,
    price: f64,
    market_cap_b: f64,
    city: String,
    country: String,
    /// Loss-making: the application stores the P/E as NaN.
    pe_ratio: f64,
    dividend_yield: f64,
    employees: i64,
    founded: i64,
    history: Vec<f64>,
}

fn company_data(c: &CompanySpec) -> String {
    Obj::new()
        .str("symbol", &c.ticker)
        .str("name", &c.name)
        .str("sector", SECTORS[c.sector % SECTORS.len()].1)
        .float("price", c.price)
        .int("market_cap", (c.market_cap_b * 1e9).round() as i64)
        .float("pe_ratio", c.pe_ratio)
        .float("dividend_yield", c.dividend_yield)
        .int("employees", c.employees)
        .int("founded", c.founded)
        .raw(
            "headquarters",
            &Obj::new()
                .str("city", &c.city)
                .str("country", &c.country)
                .done(),
        )
        .raw("price_history", &float_array(&c.history))
        .str("currency", if c.country == "US" { "USD" } else { "local" })
        .done()
}

fn sector_data(i: usize, rng: &mut SplitMix64) -> String {
    let (_, name, code, etf) = SECTORS[i % SECTORS.len()];
    Obj::new()
        .str("name", name)
        .int("gics_code", code)
        .str("etf", etf)
        .float("index_weight", rng.round_between(0.02, 0.3, 3))
        .float("ytd_return", rng.round_between(-0.15, 0.35, 4))
        .float("volatility", rng.round_between(0.1, 0.4, 3))
        .done()
}

fn indicator_data(i: usize, value: f64, previous: f64, as_of: &str) -> String {
    let (symbol, name, unit, frequency, source, _, _) = INDICATORS[i % INDICATORS.len()];
    Obj::new()
        .str("symbol", symbol)
        .str("name", name)
        .float("value", value)
        .float("previous", previous)
        .str("unit", unit)
        .str("frequency", frequency)
        .str("source", source)
        .str("as_of", as_of)
        .done()
}

fn person_data(name: &str, company: &str, since: i64, rng: &mut SplitMix64) -> String {
    Obj::new()
        .str("name", name)
        .str("title", "Chief Executive Officer")
        .str("company", company)
        .int("since", since)
        .int("age", 40 + rng.below(30) as i64)
        .float("compensation_musd", rng.round_between(2.0, 60.0, 1))
        .done()
}

fn event_data(kind: usize, subject: &str, date: &str, rng: &mut SplitMix64) -> String {
    let (category, title, impact) = EVENT_KINDS[kind % EVENT_KINDS.len()];
    Obj::new()
        .str("title", &title.replace("{}", subject))
        .str("category", category)
        .str("date", date)
        .str("impact", impact)
        .float("magnitude", rng.round_between(0.05, 0.95, 2))
        .str(
            "source",
            ["Reuters", "Bloomberg", "SEC filing", "Press release"][rng.below(4)],
        )
        .null("confirmed_by")
        .done()
}

fn synthetic_company(i: usize, rng: &mut SplitMix64, taken: &mut Vec<String>) -> CompanySpec {
    let sector = rng.below(SECTORS.len());
    let start = NAME_STARTS[rng.below(NAME_STARTS.len())];
    let name = format!(
        "{start} {} {}",
        NAME_ENDS[sector],
        ["Inc.", "Corp.", "Holdings", "plc", "AG"][rng.below(5)]
    );
    // Initials, then initials with a distinguishing letter, then a serial: always unique.
    let base = format!("{}{}", &start[..2], &NAME_ENDS[sector][..1]).to_uppercase();
    let is_free = |t: &str| !taken.iter().any(|x| x == t) && !COMPANIES.iter().any(|c| c.0 == t);
    let ticker = std::iter::once(base.clone())
        .chain((b'A'..=b'Z').map(|c| format!("{base}{}", char::from(c))))
        .find(|t| is_free(t))
        .unwrap_or_else(|| format!("X{i:04}"));
    taken.push(ticker.clone());
    let price = rng.round_between(4.0, 320.0, 2);
    let (city, country) = CITIES[rng.below(CITIES.len())];
    let history = (0..6)
        .map(|k| (price * (1.0 + 0.012 * (k as f64 - 3.0) * rng.unit()) * 100.0).round() / 100.0)
        .collect();
    CompanySpec {
        ticker,
        name,
        sector,
        price,
        market_cap_b: rng.round_between(0.3, 90.0, 1),
        city: city.to_owned(),
        country: country.to_owned(),
        pe_ratio: rng.round_between(6.0, 60.0, 1),
        dividend_yield: rng.round_between(0.0, 0.05, 4),
        employees: 200 + rng.below(80_000) as i64,
        founded: 1890 + rng.below(130) as i64,
        history,
    }
}

fn listed_company(i: usize, rng: &mut SplitMix64) -> CompanySpec {
    let (ticker, name, sector, price, cap, city, country) = COMPANIES[i % COMPANIES.len()];
    let history = (0..6)
        .map(|k| (price * (1.0 + 0.01 * (k as f64 - 3.0) * rng.unit()) * 100.0).round() / 100.0)
        .collect();
    CompanySpec {
        ticker: ticker.to_owned(),
        name: name.to_owned(),
        sector,
        price,
        market_cap_b: cap,
        city: city.to_owned(),
        country: country.to_owned(),
        // Intel reported losses: the application keeps a P/E of NaN for it.
        pe_ratio: if ticker == "INTC" {
            f64::NAN
        } else {
            rng.round_between(9.0, 70.0, 1)
        },
        dividend_yield: rng.round_between(0.0, 0.04, 4),
        employees: 10_000 + rng.below(500_000) as i64,
        founded: 1850 + rng.below(160) as i64,
        history,
    }
}

fn person_name(rng: &mut SplitMix64) -> String {
    format!(
        "{} {}",
        FIRST_NAMES[rng.below(FIRST_NAMES.len())],
        LAST_NAMES[rng.below(LAST_NAMES.len())]
    )
}

/// Node id for a person: lowercase ASCII, as a Python `slugify` would make it.
fn person_id(name: &str, n: usize) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("person_{slug}_{n}")
}

/// Adds a node whose payload this module built; the builder only writes valid JSON.
fn put(g: &mut KnowledgeGraph, kind: &str, id: Option<&str>, data: &str, at: &str) -> String {
    match g.add_node_json_at(kind, data, id, at) {
        Ok(id) => id,
        // Unreachable with the builders above; keep the node rather than lose it.
        Err(_) => g.add_node_at(kind, &serde_json::Value::Null, id, at),
    }
}

/// Connects with a strength this module chose in `[0, 1]`.
fn link(g: &mut KnowledgeGraph, from: &str, to: &str, relationship: &str, strength: f64, at: &str) {
    let _ = g.connect_at(from, to, relationship, strength.clamp(0.0, 1.0), at);
}

// ---------------------------------------------------------------------------------------------
// Sized graphs

/// A version 2 graph of `nodes` nodes (companies, sectors, economic indicators, people,
/// events) with about three edges per node and payloads of roughly 300-500 bytes, a few
/// with non-ASCII text. The file comes to about 1.7 KB per node (200k nodes, 600k edges:
/// ~340 MB), in line with the ~1.5 KB per node of the application's real graphs; an edge
/// alone takes ~290 bytes with its two connection entries. Use [`graph_near_bytes`] to
/// size by file length instead.
/// Deterministic: the same arguments give the same bytes.
pub fn sized_graph(nodes: usize, seed: u64) -> KnowledgeGraph {
    let mut rng = SplitMix64::new(seed);
    let mut g = KnowledgeGraph::new(2);
    g.seed_ids(seed ^ 0x6b6e_6f77_6c65_6467);
    if nodes == 0 {
        g.stamp(&SaveStamp {
            last_saved: stamp_at(epoch()),
        });
        return g;
    }
    let sectors = (nodes / 40).clamp(1, SECTORS.len()).min(nodes);
    let indicators = (nodes / 10).min(nodes - sectors);
    let people = (nodes * 15 / 100).min(nodes - sectors - indicators);
    let events = (nodes * 15 / 100).min(nodes - sectors - indicators - people);
    let companies = nodes - sectors - indicators - people - events;

    let mut clock = epoch();
    let mut tick = |rng: &mut SplitMix64| {
        clock += TimeDelta::microseconds(1 + rng.below(40_000) as i64);
        stamp_at(clock)
    };

    let mut sector_ids = Vec::with_capacity(sectors);
    for i in 0..sectors {
        let data = sector_data(i, &mut rng);
        let at = tick(&mut rng);
        sector_ids.push(put(&mut g, "sector", None, &data, &at));
    }
    let mut indicator_ids = Vec::with_capacity(indicators);
    for i in 0..indicators {
        let (_, _, _, _, _, typical, spread) = INDICATORS[i % INDICATORS.len()];
        let value = ((typical + spread * (rng.unit() - 0.5)) * 100.0).round() / 100.0;
        let previous = ((typical + spread * (rng.unit() - 0.5)) * 100.0).round() / 100.0;
        let data = indicator_data(i, value, previous, "2025-09");
        let at = tick(&mut rng);
        indicator_ids.push(put(&mut g, "indicator", None, &data, &at));
    }
    let mut company_ids = Vec::with_capacity(companies);
    let mut company_sector = Vec::with_capacity(companies);
    let mut taken = Vec::new();
    for i in 0..companies {
        let spec = if i < COMPANIES.len() {
            listed_company(i, &mut rng)
        } else {
            // Synthetic tickers only need to look plausible here; ids are generated.
            let mut spec = synthetic_company(i, &mut rng, &mut taken);
            taken.clear();
            spec.ticker = format!("{}{}", spec.ticker, i % 100);
            spec
        };
        let data = company_data(&spec);
        let at = tick(&mut rng);
        company_ids.push(put(&mut g, "company", None, &data, &at));
        company_sector.push(spec.sector % sectors);
    }
    let mut person_ids = Vec::with_capacity(people);
    for i in 0..people {
        let name = person_name(&mut rng);
        let company = rng.below(companies.max(1));
        let data = person_data(
            &name,
            &format!("company #{company}"),
            1990 + (i % 35) as i64,
            &mut rng,
        );
        let at = tick(&mut rng);
        person_ids.push((put(&mut g, "person", None, &data, &at), company));
    }
    let mut event_ids = Vec::with_capacity(events);
    for i in 0..events {
        let kind = rng.below(EVENT_KINDS.len());
        let date = stamp_at(epoch() - TimeDelta::days(rng.below(400) as i64));
        let data = event_data(kind, &format!("subject #{i}"), &date[..10], &mut rng);
        let at = tick(&mut rng);
        event_ids.push(put(&mut g, "event", None, &data, &at));
    }

    // About three edges leave every node; targets are drawn from the larger groups, so no
    // node's outgoing list grows large.
    let pick = |rng: &mut SplitMix64, ids: &[String]| ids.get(rng.below(ids.len())).cloned();
    for (i, company) in company_ids.iter().enumerate() {
        let at = tick(&mut rng);
        if let Some(sector) = sector_ids.get(company_sector[i]) {
            link(&mut g, company, sector, "in_sector", 1.0, &at);
        }
        for relationship in ["sector_peer", "correlates_with"] {
            if let Some(other) = pick(&mut rng, &company_ids).filter(|o| o != company) {
                let strength = rng.round_between(0.3, 0.95, 2);
                link(&mut g, company, &other, relationship, strength, &at);
            }
        }
    }
    for (person, company) in &person_ids {
        let at = tick(&mut rng);
        if let Some(company) = company_ids.get(*company) {
            link(&mut g, person, company, "ceo_of", 1.0, &at);
        }
        if let Some(board) = pick(&mut rng, &company_ids) {
            link(&mut g, person, &board, "board_member_of", 0.6, &at);
        }
        if let Some(other) = pick(
            &mut rng,
            &person_ids
                .iter()
                .map(|p| p.0.clone())
                .take(64)
                .collect::<Vec<_>>(),
        )
        .filter(|o| o != person)
        {
            link(
                &mut g,
                person,
                &other,
                "knows",
                rng.round_between(0.2, 0.9, 1),
                &at,
            );
        }
    }
    for event in &event_ids {
        let at = tick(&mut rng);
        for _ in 0..2 {
            if let Some(company) = pick(&mut rng, &company_ids) {
                link(
                    &mut g,
                    event,
                    &company,
                    "affects",
                    rng.round_between(0.1, 0.9, 2),
                    &at,
                );
            }
        }
        if let Some(sector) = pick(&mut rng, &sector_ids) {
            link(
                &mut g,
                event,
                &sector,
                "affects",
                rng.round_between(0.1, 0.6, 2),
                &at,
            );
        }
    }
    for (i, indicator) in indicator_ids.iter().enumerate() {
        let at = tick(&mut rng);
        for &s in INDICATOR_SECTORS[i % INDICATOR_SECTORS.len()] {
            if let Some(sector) = sector_ids.get(s % sectors) {
                link(
                    &mut g,
                    indicator,
                    sector,
                    "affects",
                    rng.round_between(0.3, 0.9, 2),
                    &at,
                );
            }
        }
        if let Some(company) = pick(&mut rng, &company_ids) {
            link(
                &mut g,
                indicator,
                &company,
                "affects",
                rng.round_between(0.1, 0.5, 2),
                &at,
            );
        }
    }
    for (i, sector) in sector_ids.iter().enumerate() {
        let at = tick(&mut rng);
        for step in 1..=3 {
            if sectors > step {
                let other = &sector_ids[(i + step) % sectors];
                link(
                    &mut g,
                    sector,
                    other,
                    "sector_peer",
                    rng.round_between(0.4, 0.8, 2),
                    &at,
                );
            }
        }
    }

    let patterns = sized_patterns(&g, &mut rng);
    let _ = g.set_patterns_json(&patterns);
    let at = tick(&mut rng);
    g.stamp(&SaveStamp { last_saved: at });
    g
}

/// A few `transitive` and `cycle` entries over existing edges.
fn sized_patterns(g: &KnowledgeGraph, rng: &mut SplitMix64) -> String {
    let mut transitive = Vec::new();
    let mut cycle = Vec::new();
    for edge in g
        .edges()
        .filter(|e| e.relationship() == Some("affects"))
        .take(12)
    {
        transitive.push(
            Obj::new()
                .raw("path", &str_array(&[edge.from(), edge.to()]))
                .str("relationship", "affects")
                .float("confidence", rng.round_between(0.3, 0.9, 2))
                .done(),
        );
    }
    for edge in g
        .edges()
        .filter(|e| e.relationship() == Some("sector_peer"))
        .take(4)
    {
        cycle.push(
            Obj::new()
                .raw("nodes", &str_array(&[edge.from(), edge.to(), edge.from()]))
                .int("length", 2)
                .done(),
        );
    }
    Obj::new()
        .raw("transitive", &format!("[{}]", transitive.join(", ")))
        .raw("cycle", &format!("[{}]", cycle.join(", ")))
        .done()
}

/// A [`sized_graph`] whose file is close to `target_bytes` (within a few percent for
/// targets above a megabyte).
pub fn graph_near_bytes(target_bytes: usize, seed: u64) -> KnowledgeGraph {
    // Measure the bytes per node of a small sample, then scale.
    let sample_nodes = 2_000;
    let sample = sized_graph(sample_nodes, seed).to_vec().len();
    let per_node = (sample / sample_nodes).max(1);
    sized_graph((target_bytes / per_node).max(1), seed)
}

// ---------------------------------------------------------------------------------------------
// Demo history

/// Number of states [`demo_history`] returns.
pub const DEMO_STATES: usize = 12;

/// The state (0-based) of [`demo_history`] in which [`DEMO_DELETED`] and the nodes about
/// it (its CEO, its events) are deleted by mistake; three more saves follow.
pub const DEMO_MISTAKE_STEP: usize = 8;

/// The company whose subgraph the demo's history loses.
pub const DEMO_DELETED: &str = "NVDA";

struct DemoCompany {
    spec: CompanySpec,
    id: String,
    alive: bool,
}

/// A realistic financial knowledge graph as it grew over [`DEMO_STATES`] saves, oldest
/// first: sectors, economic indicators (CPI, GDP, unemployment, ...), listed companies with
/// tickers, prices and market caps, their CEOs, and market events, linked by `in_sector`,
/// `sector_peer`, `correlates_with`, `affects` and `ceo_of`. Each state adds nodes and
/// edges, moves prices and indicator values, and now and then removes a node or an edge;
/// `patterns` holds `transitive` and `cycle` entries from the fourth state on. The last
/// state has about 350 nodes and 400 edges. One company's P/E is NaN, as the application
/// writes it for loss makers. Each state's `metadata` is stamped with its save time.
pub fn demo_history(seed: u64) -> Vec<KnowledgeGraph> {
    let mut rng = SplitMix64::new(seed);
    let mut g = KnowledgeGraph::new(2);
    g.seed_ids(seed ^ 0x6465_6d6f);

    let mut companies: Vec<DemoCompany> = Vec::new();
    let mut taken = Vec::new();
    for i in 0..COMPANIES.len() {
        let spec = listed_company(i, &mut rng);
        companies.push(DemoCompany {
            id: spec.ticker.clone(),
            spec,
            alive: false,
        });
    }
    for i in 0..100 {
        let spec = synthetic_company(i, &mut rng, &mut taken);
        companies.push(DemoCompany {
            id: spec.ticker.clone(),
            spec,
            alive: false,
        });
    }
    let mut indicator_values: Vec<f64> = INDICATORS
        .iter()
        .map(|ind| ((ind.5 + ind.6 * (rng.unit() - 0.5)) * 100.0).round() / 100.0)
        .collect();
    let sector_id = |s: usize| format!("sector_{}", SECTORS[s % SECTORS.len()].0);

    let mut states = Vec::with_capacity(DEMO_STATES);
    let mut people = 0usize;
    let mut events: Vec<String> = Vec::new();
    let mut correlations: Vec<String> = Vec::new();
    let mut next_company = 0usize;
    for step in 0..DEMO_STATES {
        // Saves every few days, at varying times of day.
        let saved = epoch()
            + TimeDelta::days(3 * step as i64)
            + TimeDelta::minutes(37 * (step as i64 % 5))
            + TimeDelta::microseconds(rng.below(1_000_000) as i64);
        let mut clock = saved - TimeDelta::hours(2);
        let mut tick = |rng: &mut SplitMix64| {
            clock += TimeDelta::microseconds(50 + rng.below(900_000) as i64);
            stamp_at(clock)
        };
        let month = format!("2025-{:02}", 9 + step / 4);

        if step == 0 {
            for s in 0..SECTORS.len() {
                let data = sector_data(s, &mut rng);
                let at = tick(&mut rng);
                put(&mut g, "sector", Some(&sector_id(s)), &data, &at);
            }
            for (i, (symbol, ..)) in INDICATORS.iter().enumerate() {
                let data = indicator_data(i, indicator_values[i], indicator_values[i], &month);
                let at = tick(&mut rng);
                put(&mut g, "indicator", Some(symbol), &data, &at);
                for &s in INDICATOR_SECTORS[i] {
                    link(
                        &mut g,
                        symbol,
                        &sector_id(s),
                        "affects",
                        rng.round_between(0.3, 0.9, 2),
                        &at,
                    );
                }
            }
            for s in 0..SECTORS.len() {
                let at = tick(&mut rng);
                let other = sector_id((s + 1 + rng.below(3)) % SECTORS.len());
                link(
                    &mut g,
                    &sector_id(s),
                    &other,
                    "sector_peer",
                    rng.round_between(0.4, 0.8, 2),
                    &at,
                );
            }
        }

        // New listings: a large first batch, then a steady trickle.
        let batch = if step == 0 { 40 } else { 10 };
        for _ in 0..batch {
            let Some(c) = companies.get_mut(next_company) else {
                break;
            };
            next_company += 1;
            c.alive = true;
            let data = company_data(&c.spec);
            let at = tick(&mut rng);
            let (id, sector) = (c.id.clone(), c.spec.sector);
            put(&mut g, "company", Some(&id), &data, &at);
            link(&mut g, &id, &sector_id(sector), "in_sector", 1.0, &at);
            // A peer in the same sector, if one is listed already.
            let peers: Vec<&DemoCompany> = companies
                .iter()
                .filter(|p| p.alive && p.spec.sector == sector && p.id != id)
                .collect();
            if let Some(peer) = rng.pick(&peers).filter(|_| rng.chance(0.35)) {
                let peer = peer.id.clone();
                link(
                    &mut g,
                    &id,
                    &peer,
                    "sector_peer",
                    rng.round_between(0.5, 0.9, 2),
                    &at,
                );
            }
            if rng.chance(0.4) {
                let name = person_name(&mut rng);
                let pid = person_id(&name, people);
                people += 1;
                let data = person_data(&name, &id, 1995 + rng.below(30) as i64, &mut rng);
                put(&mut g, "person", Some(&pid), &data, &at);
                link(&mut g, &pid, &id, "ceo_of", 1.0, &at);
            }
        }

        // Correlations between listed companies.
        let alive: Vec<String> = companies
            .iter()
            .filter(|c| c.alive)
            .map(|c| c.id.clone())
            .collect();
        for _ in 0..2 {
            let (Some(a), Some(b)) = (rng.pick(&alive).cloned(), rng.pick(&alive).cloned()) else {
                break;
            };
            if a != b {
                let at = tick(&mut rng);
                if let Ok(id) = g.connect_at(
                    &a,
                    &b,
                    "correlates_with",
                    rng.round_between(0.5, 0.95, 2),
                    &at,
                ) {
                    correlations.push(id);
                }
            }
        }

        // Market events of the period.
        for _ in 0..8 {
            let kind = rng.below(EVENT_KINDS.len());
            let Some(subject) = rng.pick(&alive).cloned() else {
                break;
            };
            let at = tick(&mut rng);
            let id = format!("event_{}_{}", EVENT_KINDS[kind].0, events.len() + 1);
            let data = event_data(kind, &subject, &at[..10], &mut rng);
            put(&mut g, "event", Some(&id), &data, &at);
            link(
                &mut g,
                &id,
                &subject,
                "affects",
                rng.round_between(0.2, 0.9, 2),
                &at,
            );
            if let Some(c) = companies
                .iter()
                .find(|c| c.id == subject)
                .filter(|_| rng.chance(0.2))
            {
                let sector = c.spec.sector;
                link(
                    &mut g,
                    &id,
                    &sector_id(sector),
                    "affects",
                    rng.round_between(0.1, 0.5, 2),
                    &at,
                );
            }
            events.push(id);
        }

        if step > 0 {
            // Prices move for about a third of the listed companies.
            for c in companies.iter_mut().filter(|c| c.alive) {
                if rng.chance(0.35) {
                    let change = 1.0 + 0.06 * (rng.unit() - 0.5);
                    c.spec.history.remove(0);
                    c.spec.history.push(c.spec.price);
                    c.spec.price = (c.spec.price * change * 100.0).round() / 100.0;
                    c.spec.market_cap_b = (c.spec.market_cap_b * change * 10.0).round() / 10.0;
                    let data = company_data(&c.spec);
                    let at = tick(&mut rng);
                    put(&mut g, "company", Some(&c.id), &data, &at);
                }
            }
            // A new print for every fourth indicator.
            for i in (step % 4..INDICATORS.len()).step_by(4) {
                let previous = indicator_values[i];
                indicator_values[i] =
                    ((previous + INDICATORS[i].6 * 0.3 * (rng.unit() - 0.5)) * 100.0).round()
                        / 100.0;
                let data = indicator_data(i, indicator_values[i], previous, &month);
                let at = tick(&mut rng);
                put(&mut g, "indicator", Some(INDICATORS[i].0), &data, &at);
            }
        }

        // Now and then something goes away.
        match step {
            4 => {
                // A rumour that was retracted.
                if let Some(id) = events.get(3).cloned() {
                    g.remove_node(&id);
                }
            }
            6 | 9 => {
                if let Some(id) = correlations.first().cloned() {
                    g.remove_edge(&id);
                    correlations.remove(0);
                }
            }
            8 => {
                // A synthetic small cap is delisted after a merger.
                if let Some(c) = companies
                    .iter_mut()
                    .filter(|c| c.alive && !COMPANIES.iter().any(|l| l.0 == c.id))
                    .nth(2)
                {
                    c.alive = false;
                    g.remove_node(&c.id);
                }
            }
            _ => {}
        }

        if step == DEMO_MISTAKE_STEP {
            // Someone deletes a whole subgraph by mistake: the company, its CEO and the
            // events about it. The saves after it go on changing other nodes, so only a
            // partial restore brings it back without losing them.
            if let Some(c) = companies.iter_mut().find(|c| c.id == DEMO_DELETED) {
                c.alive = false;
            }
            let mut doomed: Vec<String> = g
                .edges()
                .filter(|e| {
                    e.to() == DEMO_DELETED && matches!(e.relationship(), Some("ceo_of" | "affects"))
                })
                .map(|e| e.from().to_owned())
                .collect();
            doomed.push(DEMO_DELETED.to_owned());
            for id in &doomed {
                g.remove_node(id);
            }
        }

        if step >= 3 {
            let patterns = demo_patterns(&g, step, &mut rng);
            let _ = g.set_patterns_json(&patterns);
        }
        g.stamp(&SaveStamp {
            last_saved: stamp_at(saved),
        });
        states.push(g.clone());
    }
    states
}

/// Patterns the application would have discovered by `step`: indicator -> sector ->
/// company chains, and correlation cycles.
fn demo_patterns(g: &KnowledgeGraph, step: usize, rng: &mut SplitMix64) -> String {
    let mut transitive = Vec::new();
    for edge in g
        .edges()
        .filter(|e| e.relationship() == Some("affects") && e.to().starts_with("sector_"))
    {
        let Some(member) = g
            .edges()
            .find(|m| m.relationship() == Some("in_sector") && m.to() == edge.to())
        else {
            continue;
        };
        transitive.push(
            Obj::new()
                .raw("path", &str_array(&[edge.from(), edge.to(), member.from()]))
                .raw("relationships", &str_array(&["affects", "in_sector"]))
                .float("confidence", rng.round_between(0.3, 0.8, 2))
                .done(),
        );
        if transitive.len() >= step + 2 {
            break;
        }
    }
    let mut cycle = Vec::new();
    for edge in g
        .edges()
        .filter(|e| e.relationship() == Some("sector_peer") && e.from().starts_with("sector_"))
        .take(step / 3)
    {
        cycle.push(
            Obj::new()
                .raw("nodes", &str_array(&[edge.from(), edge.to(), edge.from()]))
                .str("relationship", "sector_peer")
                .int("length", 2)
                .done(),
        );
    }
    Obj::new()
        .raw("transitive", &format!("[{}]", transitive.join(", ")))
        .raw("cycle", &format!("[{}]", cycle.join(", ")))
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.below(7);
            assert!(x < 7);
            let _ = b.below(7);
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            let _ = b.unit();
        }
        // Known first output of splitmix64 for seed 0 (from the reference implementation).
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(SplitMix64::new(1).below(0), 0);
        assert_eq!(SplitMix64::new(1).pick::<u8>(&[]), None);
    }

    #[test]
    fn sized_graph_is_deterministic_and_consistent() {
        let a = sized_graph(400, 7).to_vec();
        let b = sized_graph(400, 7).to_vec();
        assert_eq!(a, b, "same seed, same bytes");
        assert_ne!(a, sized_graph(400, 8).to_vec());
        let g = KnowledgeGraph::from_slice(&a).expect("parses");
        assert_eq!(g.to_vec(), a, "round-trips");
        assert_eq!(g.node_count(), 400);
        let edges = g.edge_count() as f64 / 400.0;
        assert!(
            (2.5..=3.5).contains(&edges),
            "about three edges per node: {edges}"
        );
        let report = g.check_consistency();
        assert!(
            report.problems.is_empty() && report.warnings.is_empty(),
            "{report:?}"
        );
        let stats = g.stats();
        let kinds: Vec<&str> = stats.node_types.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["sector", "indicator", "company", "person", "event"]);
        assert!(stats.total_patterns > 0);
        // Payload sizes as the brief asks: 300-500 bytes on average.
        let data: usize = g.nodes().filter_map(|n| n.data_json()).map(str::len).sum();
        let average = data / g.node_count();
        assert!(
            (300..=500).contains(&average),
            "average payload {average} bytes"
        );
        let text = String::from_utf8(a).expect("ASCII");
        assert!(text.contains("\\u00fc"), "some non-ASCII text, escaped");
        assert!(text.contains("NaN"), "the loss maker's P/E");
    }

    #[test]
    fn tiny_sizes_work() {
        for n in 0..12 {
            let g = sized_graph(n, 1);
            assert_eq!(g.node_count(), n);
            assert!(g.check_consistency().is_consistent());
            let bytes = g.to_vec();
            assert_eq!(
                KnowledgeGraph::from_slice(&bytes).map(|g| g.to_vec()),
                Ok(bytes)
            );
        }
    }

    #[test]
    fn graph_near_bytes_hits_its_target() {
        let g = graph_near_bytes(3_000_000, 5);
        let len = g.to_vec().len() as f64;
        assert!((len / 3_000_000.0 - 1.0).abs() < 0.1, "{len}");
    }

    #[test]
    fn demo_history_grows_and_changes() {
        let states = demo_history(2025);
        assert_eq!(states.len(), DEMO_STATES);
        let again = demo_history(2025);
        for (a, b) in states.iter().zip(&again) {
            assert_eq!(a.to_vec(), b.to_vec(), "same seed, same bytes");
        }
        let last = states.last().expect("states");
        assert!(
            (300..=400).contains(&last.node_count()),
            "{} nodes",
            last.node_count()
        );
        assert!(
            (300..=450).contains(&last.edge_count()),
            "{} edges",
            last.edge_count()
        );
        let first = &states[0];
        assert!(first.node_count() < last.node_count() / 2);

        let mut removed_node = false;
        let mut removed_edge = false;
        let mut changed = 0;
        for pair in states.windows(2) {
            let d = crate::graph::diff(&pair[0], &pair[1]);
            assert!(!d.nodes_added.is_empty(), "every save adds something");
            removed_node |= !d.nodes_removed.is_empty();
            removed_edge |= !d.edges_removed.is_empty();
            changed += d.nodes_changed.len();
        }
        assert!(
            removed_node && removed_edge,
            "nodes and edges are removed now and then"
        );
        assert!(
            changed > 50,
            "prices and indicators move: {changed} changes"
        );

        for (i, state) in states.iter().enumerate() {
            let bytes = state.to_vec();
            let parsed = KnowledgeGraph::from_slice(&bytes).expect("parses");
            assert_eq!(parsed.to_vec(), bytes);
            let report = parsed.check_consistency();
            assert!(report.is_consistent(), "state {i}: {report:?}");
            assert!(
                parsed
                    .metadata_json()
                    .is_some_and(|m| m.contains("\"last_saved\"") && m.contains("\"networkx\"")),
                "state {i} is stamped"
            );
        }
        let text = String::from_utf8(last.to_vec()).expect("ASCII");
        assert_eq!(
            text.matches("NaN").count(),
            1,
            "exactly one NaN, in INTC's payload"
        );
        assert!(text.contains("\"pe_ratio\": NaN"));
        let stats = last.stats();
        for kind in ["sector", "indicator", "company", "person", "event"] {
            assert!(stats.node_types.iter().any(|(k, _)| k == kind), "{kind}");
        }
        for rel in [
            "in_sector",
            "sector_peer",
            "correlates_with",
            "affects",
            "ceo_of",
        ] {
            assert!(stats.edge_types.iter().any(|(k, _)| k == rel), "{rel}");
        }
        let patterns = last.patterns_json().expect("patterns");
        assert!(patterns.contains("\"transitive\"") && patterns.contains("\"cycle\""));
        assert!(stats.total_patterns > 5);
        assert!(
            last.node("CPI")
                .and_then(|n| n.data_json())
                .is_some_and(|d| d.contains("\"value\""))
        );
        assert_eq!(last.node("AAPL").and_then(|n| n.kind()), Some("company"));
    }
}
