//! Redis Sentinel: `redis+sentinel://[user:password@]host[:port][,host2[:port2]…]/MASTER_NAME[/db]`
//! (`rediss+sentinel://` for TLS to the sentinels and the master). Every new
//! connection asks the sentinels which server is the master now, so a
//! failover is followed by the next connection; the credentials and the db
//! are the master's (the sentinels are asked without them).

use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};

/// The sentinel port when a URL names none.
const SENTINEL_PORT: u16 = 26379;

/// Where a sentinel URL points, parsed.
#[derive(Debug, PartialEq)]
pub(super) struct SentinelUrl {
    pub(super) sentinels: Vec<(String, u16)>,
    pub(super) master: String,
    pub(super) db: i64,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) tls: bool,
}

/// Whether `url` names sentinels.
pub(super) fn is_sentinel_url(url: &str) -> bool {
    url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")
}

/// Parses a sentinel URL; the error says what is wrong (never the password).
pub(super) fn parse(url: &str) -> Result<SentinelUrl, String> {
    let (tls, rest) = match url.split_once("://") {
        Some(("redis+sentinel", rest)) => (false, rest),
        Some(("rediss+sentinel", rest)) => (true, rest),
        _ => return Err("not a redis+sentinel:// URL".into()),
    };
    let (authority, path) = rest
        .split_once('/')
        .ok_or("it names no master: add /MASTER_NAME after the sentinels")?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (user, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
        None => (None, None),
        Some((user, password)) => (
            Some(decode(user)).filter(|u| !u.is_empty()),
            Some(decode(password)).filter(|p| !p.is_empty()),
        ),
    };
    let mut sentinels = Vec::new();
    for host in hosts.split(',').filter(|h| !h.is_empty()) {
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => (
                name,
                port.parse::<u16>()
                    .map_err(|_| format!("sentinel {host:?}: the port is not a number"))?,
            ),
            _ => (host, SENTINEL_PORT),
        };
        sentinels.push((name.trim_matches(['[', ']']).to_string(), port));
    }
    if sentinels.is_empty() {
        return Err("it names no sentinel: host[:port][,host2[:port2]…]".into());
    }
    let mut parts = path.split('/');
    let master = parts.next().unwrap_or("").to_string();
    if master.is_empty() {
        return Err("it names no master: add /MASTER_NAME after the sentinels".into());
    }
    let db = match parts.next() {
        None | Some("") => 0,
        Some(db) => db
            .parse()
            .map_err(|_| format!("the db {db:?} after the master name is not a number"))?,
    };
    Ok(SentinelUrl {
        sentinels,
        master,
        db,
        user,
        password,
        tls,
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            text.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SentinelUrl {
    /// A client that finds the master through the sentinels.
    pub(super) fn client(&self) -> redis::RedisResult<SentinelClient> {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|(host, port)| {
                if host.contains(':') {
                    format!("{scheme}://[{host}]:{port}")
                } else {
                    format!("{scheme}://{host}:{port}")
                }
            })
            .collect();
        let node = SentinelNodeConnectionInfo {
            tls_mode: self.tls.then_some(redis::TlsMode::Secure),
            redis_connection_info: Some(redis::RedisConnectionInfo {
                db: self.db,
                username: self.user.clone(),
                password: self.password.clone(),
                ..Default::default()
            }),
        };
        SentinelClient::build(
            sentinels,
            self.master.clone(),
            Some(node),
            SentinelServerType::Master,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_sentinels_a_master_and_a_db() {
        let url = parse("redis+sentinel://u:p%40ss@a:1,b,[::1]:3/mymaster/2").unwrap();
        assert_eq!(
            url.sentinels,
            vec![("a".into(), 1), ("b".into(), 26379), ("::1".into(), 3)]
        );
        assert_eq!((url.master.as_str(), url.db), ("mymaster", 2));
        assert_eq!(url.user.as_deref(), Some("u"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert!(!url.tls);
        assert!(parse("rediss+sentinel://h/m").unwrap().tls);
        for bad in [
            "redis+sentinel://h",
            "redis+sentinel:///m",
            "redis+sentinel://h:x/m",
            "redis+sentinel://h/m/x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
