
use builtin;
use str;

set edit:completion:arg-completer[jongler] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'jongler'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'jongler'= {
            cand --cleanup 'Remove LOCKDOWN and ERROR markers and stale locks of one connector'
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --pretty 'Indent a JSON answer'
            cand --allow-empty-body 'Send a POST, PUT or PATCH without a body to a JSON connector (else refused: it would cost quota for an error)'
            cand -i 'Print the status line and headers before the body'
            cand --include 'Print the status line and headers before the body'
            cand --cleanup-all 'Remove LOCKDOWN and ERROR markers and stale locks of every connector'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand demo 'See the whole job done on this machine: no config, keys or network needed'
            cand keys 'Import, add, remove and list keys in the key file'
            cand completions 'Print a shell completion script'
            cand status 'Show every key''s state, until-when and why (-v: every limit, every key)'
            cand check 'Check every key with a request that costs no quota; mark bad keys ERROR'
            cand batch 'Send a JSONL file of requests through the whole pool; resumable'
            cand serve 'Serve a local proxy on the same pool, for SDKs and OpenAI-style tools'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jongler;demo'= {
            cand --requests 'Requests to deliver'
            cand --workers 'Requests in flight at once'
            cand --keys 'Keys in the pool (the last one is invalid)'
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;keys'= {
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand import 'Add the keys of FILE (''-'': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named'
            cand add 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line'
            cand remove 'Remove keys by name, and their LOCKDOWN and ERROR marks'
            cand list 'List the keys'' names and states (never their values)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jongler;keys;import'= {
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --check 'Check each key added (a request that costs no quota)'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;keys;add'= {
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;keys;remove'= {
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;keys;list'= {
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --json 'Print JSON'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;keys;help'= {
            cand import 'Add the keys of FILE (''-'': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named'
            cand add 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line'
            cand remove 'Remove keys by name, and their LOCKDOWN and ERROR marks'
            cand list 'List the keys'' names and states (never their values)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jongler;keys;help;import'= {
        }
        &'jongler;keys;help;add'= {
        }
        &'jongler;keys;help;remove'= {
        }
        &'jongler;keys;help;list'= {
        }
        &'jongler;keys;help;help'= {
        }
        &'jongler;completions'= {
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;status'= {
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --json 'Print JSON instead of a table'
            cand --history 'The usage history: per day, requests, tokens, rate limits and errors, per client (and -v or --json: per key)'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;check'= {
            cand --concurrency 'How many keys to check at once (each key by one request at a time)'
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --json 'Print JSON instead of a table'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;batch'= {
            cand --in 'The requests, one per line (''-'': stdin)'
            cand --out 'Where answers go, one per line; appended to, and read first to resume (''-'': stdout)'
            cand --template 'Input lines are plain text, JSON-escaped into this body at {{text}}'
            cand --concurrency 'At most this many requests in flight [default: the keys not in ERROR, up to 256]'
            cand --progress-every 'Without a terminal, a progress line this often (10s, 1m …; 0: none)'
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --unordered 'Write answers as they complete instead of in input order'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;serve'= {
            cand --listen 'Address to listen on'
            cand --token 'The token clients must present (without one, only loopback listening is allowed); prefer JONGLER_PROXY_TOKEN or --token-file: a command line is visible to every user in `ps`'
            cand --token-file 'Read the token from this file (its first line)'
            cand --clients 'Named clients: a file of [client NAME] sections, each with its token and optionally priority, max_in_flight and limits [default: those in the key file]; edits apply without a restart'
            cand --stall-timeout 'A client that reads nothing of a streamed answer for this long (30s, 1m …) loses it, and its key is released'
            cand --header-timeout 'A connection gets this long (30s, 1m …) to send a request''s headers, from when it opens or its last answer ends (idle connections close too)'
            cand --shutdown-timeout 'After SIGTERM/SIGINT, requests in flight get this long to finish (30s …)'
            cand --wait 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)'
            cand --priority 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]'
            cand --timeout 'Give up on a request after this long: 5m, 90s, or seconds (0: never)'
            cand --fallback-model 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)'
            cand --proxy 'Send requests through this proxy (http://, https://, socks5://, socks5h://)'
            cand --config 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]'
            cand --state-dir 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]'
            cand --state 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)'
            cand --lease-ttl 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)'
            cand --history-days 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come'
            cand --connectors-dir 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)'
            cand --log-level 'Log level: error, warn, info, debug or trace [default: warn]'
            cand --color 'When to color stderr'
            cand --all 'Serve every connector that has keys (in the key file or the environment)'
            cand --metrics-public 'Serve /metrics (Prometheus) without the token, for a scraper that can''t send one; everything else still needs it'
            cand --tor 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
            cand -v 'More log output (-v info, -vv debug)'
            cand --verbose 'More log output (-v info, -vv debug)'
            cand -q 'Only errors on stderr'
            cand --quiet 'Only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'jongler;help'= {
            cand demo 'See the whole job done on this machine: no config, keys or network needed'
            cand keys 'Import, add, remove and list keys in the key file'
            cand completions 'Print a shell completion script'
            cand status 'Show every key''s state, until-when and why (-v: every limit, every key)'
            cand check 'Check every key with a request that costs no quota; mark bad keys ERROR'
            cand batch 'Send a JSONL file of requests through the whole pool; resumable'
            cand serve 'Serve a local proxy on the same pool, for SDKs and OpenAI-style tools'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jongler;help;demo'= {
        }
        &'jongler;help;keys'= {
            cand import 'Add the keys of FILE (''-'': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named'
            cand add 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line'
            cand remove 'Remove keys by name, and their LOCKDOWN and ERROR marks'
            cand list 'List the keys'' names and states (never their values)'
        }
        &'jongler;help;keys;import'= {
        }
        &'jongler;help;keys;add'= {
        }
        &'jongler;help;keys;remove'= {
        }
        &'jongler;help;keys;list'= {
        }
        &'jongler;help;completions'= {
        }
        &'jongler;help;status'= {
        }
        &'jongler;help;check'= {
        }
        &'jongler;help;batch'= {
        }
        &'jongler;help;serve'= {
        }
        &'jongler;help;help'= {
        }
    ]
    $completions[$command]
}
