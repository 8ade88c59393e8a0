//! `serve`'s `/status` page for people: per connector a header with the
//! totals, then one compact row per key, ERROR keys first with the command
//! that clears them, usage bars for the limits in use. The page refreshes its
//! `<main>` in place every 2 s (scroll and open sections stay as they are),
//! and folds the VACANT keys with room of a big pool into one section, so it
//! stays usable at 1,000 keys. Pure rendering: no I/O here.

use crate::output::ConnectorStatus;
use crate::output::human;
use crate::pool::{KeyStatus, State};
use jiff::Timestamp;

/// Pools larger than this fold their VACANT keys with room.
const FOLD_ABOVE: usize = 40;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page: one part per connector.
pub fn page(reports: &[ConnectorStatus], now: Timestamp) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>jongler · {name}</title><link rel=\"icon\" href=\"/favicon.ico\" type=\"image/svg+xml\">\
<style>{CSS}</style></head><body><main id=\"main\">{main}</main><script>{SCRIPT}</script></body></html>\n",
        name = esc(&names(reports)),
        main = parts(reports, now),
    )
}

fn names(reports: &[ConnectorStatus]) -> String {
    let names: Vec<&str> = reports.iter().map(|r| r.connector.as_str()).collect();
    names.join(", ")
}

/// What the page refreshes, for every connector.
pub fn parts(reports: &[ConnectorStatus], now: Timestamp) -> String {
    reports.iter().map(|r| main(r, now)).collect()
}

/// What the page refreshes: the contents of `<main>`.
pub fn main(report: &ConnectorStatus, now: Timestamp) -> String {
    let keys = &report.keys;
    let mut html = header(report, now);
    // ERROR first, then the soonest back, then in use, then the rest.
    let mut shown: Vec<&KeyStatus> = Vec::new();
    let mut folded: Vec<&KeyStatus> = Vec::new();
    let fold = keys.len() > FOLD_ABOVE;
    for key in keys {
        let near_full = key.usage.iter().any(|u| u.fill() >= 0.8);
        if fold && key.state == State::Vacant && key.models.is_empty() && !near_full {
            folded.push(key);
        } else {
            shown.push(key);
        }
    }
    let rank = |k: &KeyStatus| match k.state {
        State::Error => 0,
        State::Lockdown => 1,
        State::Locked => 2,
        State::Vacant => 3,
    };
    shown.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then(
            a.until
                .unwrap_or(Timestamp::MAX)
                .cmp(&b.until.unwrap_or(Timestamp::MAX)),
        )
    });
    html.push_str(&chart(report));
    html.push_str(&table(&shown, now, "keys"));
    if !folded.is_empty() {
        html.push_str(&format!(
            "<details id=\"folded\"><summary>{} vacant key{} with room</summary>{}</details>",
            folded.len(),
            if folded.len() == 1 { "" } else { "s" },
            table(&folded, now, "folded")
        ));
    }
    html
}

/// The connector's name, its keys by state, today's counts, and what to do
/// about keys in ERROR.
fn header(report: &ConnectorStatus, now: Timestamp) -> String {
    let keys = &report.keys;
    let count = |s: State| keys.iter().filter(|k| k.state == s).count();
    let (vacant, locked, lockdown, error) = (
        count(State::Vacant),
        count(State::Locked),
        count(State::Lockdown),
        count(State::Error),
    );
    let mut groups = std::collections::HashSet::new();
    let (mut requests, mut limited) = (0u64, 0u64);
    for key in keys {
        if key.group.as_ref().is_none_or(|g| groups.insert(g.clone())) {
            requests += key.requests_today;
            limited += key.rate_limited_today;
        }
    }
    let next = keys
        .iter()
        .filter(|k| k.state == State::Lockdown)
        .filter_map(|k| k.until)
        .min();
    let name = esc(&report.connector);
    let mut html = format!(
        "<header data-connector=\"{name}\" data-total=\"{total}\" data-vacant=\"{vacant}\" \
data-locked=\"{locked}\" data-lockdown=\"{lockdown}\" data-error=\"{error}\" \
data-requests-today=\"{requests}\" data-rate-limited-today=\"{limited}\">\
<h1>{name}</h1><p class=\"totals\"><b>{total}</b> key{s}",
        total = keys.len(),
        s = if keys.len() == 1 { "" } else { "s" },
    );
    for (n, state) in [
        (vacant, State::Vacant),
        (locked, State::Locked),
        (lockdown, State::Lockdown),
        (error, State::Error),
    ] {
        if n > 0 {
            html.push_str(&format!(
                " <span class=\"badge {s}\">{n} {s}</span>",
                s = state.as_str()
            ));
        }
    }
    html.push_str(&format!(
        "</p><p class=\"facts\">today {requests} request{} · {limited} rate limit{} absorbed",
        if requests == 1 { "" } else { "s" },
        if limited == 1 { "" } else { "s" },
    ));
    if let Some(next) = next {
        html.push_str(&format!(
            " · next key back in {}",
            human(next.duration_since(now))
        ));
    }
    html.push_str(&format!(
        " · updated <time datetime=\"{now:.0}\">{}</time> UTC</p></header>",
        now.strftime("%H:%M:%S")
    ));
    if error > 0 {
        html.push_str(&format!(
            "<p class=\"fix\"><b>{error} key{} in ERROR</b> (the API refused {}). Fix {} in the key file, then run <code>jongler --cleanup {name}</code>.</p>",
            if error == 1 { "" } else { "s" },
            if error == 1 { "it" } else { "them" },
            if error == 1 { "it" } else { "them" },
        ));
    }
    html
}

/// Requests per day (rate limits absorbed in their own colour), one bar a
/// day of the history, and per client in each bar's title.
fn chart(report: &ConnectorStatus) -> String {
    let days = &report.history;
    if days.is_empty() {
        return String::new();
    }
    let most = days
        .iter()
        .map(|d| d.total.requests)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, gap) = (14usize, 60u64, 2usize);
    let mut bars = String::new();
    for (i, day) in days.iter().enumerate() {
        let x = i * (w + gap);
        let tall = |n: u64| (n * h).div_ceil(most);
        let (all, limited) = (tall(day.total.requests), tall(day.total.rate_limited));
        let clients: Vec<String> = day
            .clients
            .iter()
            .map(|(name, t)| format!("{}: {}", esc(name), t.requests))
            .collect();
        let title = format!(
            "{}: {} requests, {} tokens, {} rate limits, {} errors{}{}",
            esc(&day.date),
            day.total.requests,
            day.total.tokens,
            day.total.rate_limited,
            day.total.errors,
            if clients.is_empty() { "" } else { " — " },
            clients.join(", ")
        );
        bars.push_str(&format!(
            r#"<g data-date="{date}" data-requests="{r}"><title>{title}</title><rect class="req" x="{x}" y="{y}" width="{w}" height="{all}"/><rect class="lim" x="{x}" y="{ly}" width="{w}" height="{limited}"/></g>"#,
            date = esc(&day.date),
            r = day.total.requests,
            y = h - all,
            ly = h - limited,
        ));
    }
    let width = days.len() * (w + gap);
    format!(
        r#"<figure class="history"><figcaption>requests per day, last {n} day{s} (red: rate limits absorbed)</figcaption><svg role="img" width="{width}" height="{h}" viewBox="0 0 {width} {h}">{bars}</svg></figure>"#,
        n = days.len(),
        s = if days.len() == 1 { "" } else { "s" },
    )
}

fn table(keys: &[&KeyStatus], now: Timestamp, class: &str) -> String {
    let mut html = format!(
        "<table class=\"{class}\"><thead><tr><th>key</th><th>state</th><th>back in</th><th>why</th><th>usage</th></tr></thead><tbody>"
    );
    for key in keys {
        let state = key.state.as_str();
        let until = key
            .until
            .map(|t| {
                format!(
                    "<time datetime=\"{t:.0}\" title=\"{t:.0}\">{}</time>",
                    human(t.duration_since(now))
                )
            })
            .unwrap_or_default();
        let mut usage: Vec<_> = key.usage.iter().filter(|u| u.used > 0).collect();
        usage.sort_by(|a, b| b.fill().total_cmp(&a.fill()));
        let bars: String = usage
            .iter()
            .take(3)
            .map(|u| {
                let pct = (u.fill() * 100.0).round().min(100.0);
                let level = if pct >= 100.0 {
                    "full"
                } else if pct >= 80.0 {
                    "high"
                } else {
                    "ok"
                };
                format!(
                    "<span class=\"use\" title=\"{title}: {used} used, {left} left ({source})\"><span class=\"bar\"><i class=\"{level}\" style=\"width:{pct}%\"></i></span>{label}</span>",
                    title = esc(&u.limit),
                    used = u.used,
                    left = u.left,
                    source = u.source,
                    label = esc(&u.compact()),
                )
            })
            .collect();
        let group = key
            .group
            .as_ref()
            .map(|g| format!(" <small>group {}</small>", esc(g)))
            .unwrap_or_default();
        html.push_str(&format!(
            "<tr data-state=\"{state}\"><td class=\"name\">{name}{group}</td><td><span class=\"badge {state}\">{state}</span></td><td>{until}</td><td class=\"why\">{why}</td><td>{bars}</td></tr>",
            name = esc(&key.name),
            why = esc(key.reason.as_deref().unwrap_or("")),
        ));
    }
    html.push_str("</tbody></table>");
    html
}

const CSS: &str = "\
:root{color-scheme:light dark;--ok:#2a7;--hi:#d83;--bad:#c33;--lock:#36c;--mute:#888}\
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:1rem 1.5rem}\
header h1{font-size:1.3rem;margin:0 0 .3rem}\
.totals,.facts{margin:.2rem 0}.facts{color:var(--mute)}\
.badge{display:inline-block;padding:0 .5em;border-radius:.7em;font-size:.85em;color:#fff}\
.badge.vacant{background:var(--ok)}.badge.locked{background:var(--lock)}\
.badge.lockdown{background:var(--hi)}.badge.error{background:var(--bad)}\
.fix{border-left:4px solid var(--bad);padding:.4rem .8rem;background:rgba(204,51,51,.08)}\
table{border-collapse:collapse;width:100%;table-layout:fixed;margin-top:.6rem}\
th,td{text-align:left;padding:.2rem .5rem;border-bottom:1px solid rgba(128,128,128,.2);\
white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\
th:nth-child(1){width:18%}th:nth-child(2){width:8%}th:nth-child(3){width:9%}th:nth-child(4){width:35%}\
.use{display:inline-flex;align-items:center;gap:.3em;margin-right:.8em;font-size:.85em}\
.bar{display:inline-block;width:4em;height:.5em;background:rgba(128,128,128,.25);border-radius:.25em;overflow:hidden}\
.bar i{display:block;height:100%;background:var(--ok)}.bar i.high{background:var(--hi)}.bar i.full{background:var(--bad)}\
details{margin-top:.8rem}summary{cursor:pointer;color:var(--mute)}code{font-size:.95em}\
.history{margin:.6rem 0 0}.history figcaption{color:var(--mute);font-size:.85em}\
.history .req{fill:var(--lock)}.history .lim{fill:var(--bad)}";

const SCRIPT: &str = "\
addEventListener('load',()=>{document.body.dataset.loadedMs=String(Math.round(performance.now()))});\
setInterval(async()=>{try{\
const u=new URL(location.href);u.searchParams.set('format','html');u.searchParams.set('part','main');\
const r=await fetch(u,{cache:'no-store'});if(!r.ok)return;\
const open=document.getElementById('folded')?.open;\
document.getElementById('main').innerHTML=await r.text();\
const f=document.getElementById('folded');if(f&&open)f.open=true;\
}catch(e){}},2000);";
