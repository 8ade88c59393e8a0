
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'jongler' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'jongler'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'jongler' {
            [CompletionResult]::new('--cleanup', '--cleanup', [CompletionResultType]::ParameterName, 'Remove LOCKDOWN and ERROR markers and stale locks of one connector')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--pretty', '--pretty', [CompletionResultType]::ParameterName, 'Indent a JSON answer')
            [CompletionResult]::new('--allow-empty-body', '--allow-empty-body', [CompletionResultType]::ParameterName, 'Send a POST, PUT or PATCH without a body to a JSON connector (else refused: it would cost quota for an error)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Print the status line and headers before the body')
            [CompletionResult]::new('--include', '--include', [CompletionResultType]::ParameterName, 'Print the status line and headers before the body')
            [CompletionResult]::new('--cleanup-all', '--cleanup-all', [CompletionResultType]::ParameterName, 'Remove LOCKDOWN and ERROR markers and stale locks of every connector')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'See the whole job done on this machine: no config, keys or network needed')
            [CompletionResult]::new('keys', 'keys', [CompletionResultType]::ParameterValue, 'Import, add, remove and list keys in the key file')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every key''s state, until-when and why (-v: every limit, every key)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check every key with a request that costs no quota; mark bad keys ERROR')
            [CompletionResult]::new('batch', 'batch', [CompletionResultType]::ParameterValue, 'Send a JSONL file of requests through the whole pool; resumable')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve a local proxy on the same pool, for SDKs and OpenAI-style tools')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jongler;demo' {
            [CompletionResult]::new('--requests', '--requests', [CompletionResultType]::ParameterName, 'Requests to deliver')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Requests in flight at once')
            [CompletionResult]::new('--keys', '--keys', [CompletionResultType]::ParameterName, 'Keys in the pool (the last one is invalid)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;keys' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Add the keys of FILE (''-'': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove keys by name, and their LOCKDOWN and ERROR marks')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the keys'' names and states (never their values)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jongler;keys;import' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Check each key added (a request that costs no quota)')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;keys;add' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;keys;remove' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;keys;list' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;keys;help' {
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Add the keys of FILE (''-'': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove keys by name, and their LOCKDOWN and ERROR marks')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the keys'' names and states (never their values)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jongler;keys;help;import' {
            break
        }
        'jongler;keys;help;add' {
            break
        }
        'jongler;keys;help;remove' {
            break
        }
        'jongler;keys;help;list' {
            break
        }
        'jongler;keys;help;help' {
            break
        }
        'jongler;completions' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;status' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON instead of a table')
            [CompletionResult]::new('--history', '--history', [CompletionResultType]::ParameterName, 'The usage history: per day, requests, tokens, rate limits and errors, per client (and -v or --json: per key)')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;check' {
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'How many keys to check at once (each key by one request at a time)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON instead of a table')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;batch' {
            [CompletionResult]::new('--in', '--in', [CompletionResultType]::ParameterName, 'The requests, one per line (''-'': stdin)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Where answers go, one per line; appended to, and read first to resume (''-'': stdout)')
            [CompletionResult]::new('--template', '--template', [CompletionResultType]::ParameterName, 'Input lines are plain text, JSON-escaped into this body at {{text}}')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'At most this many requests in flight [default: the keys not in ERROR, up to 256]')
            [CompletionResult]::new('--progress-every', '--progress-every', [CompletionResultType]::ParameterName, 'Without a terminal, a progress line this often (10s, 1m …; 0: none)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--unordered', '--unordered', [CompletionResultType]::ParameterName, 'Write answers as they complete instead of in input order')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The token clients must present (without one, only loopback listening is allowed); prefer JONGLER_PROXY_TOKEN or --token-file: a command line is visible to every user in `ps`')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the token from this file (its first line)')
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Named clients: a file of [client NAME] sections, each with its token and optionally priority, max_in_flight and limits [default: those in the key file]; edits apply without a restart')
            [CompletionResult]::new('--stall-timeout', '--stall-timeout', [CompletionResultType]::ParameterName, 'A client that reads nothing of a streamed answer for this long (30s, 1m …) loses it, and its key is released')
            [CompletionResult]::new('--header-timeout', '--header-timeout', [CompletionResultType]::ParameterName, 'A connection gets this long (30s, 1m …) to send a request''s headers, from when it opens or its last answer ends (idle connections close too)')
            [CompletionResult]::new('--shutdown-timeout', '--shutdown-timeout', [CompletionResultType]::ParameterName, 'After SIGTERM/SIGINT, requests in flight get this long to finish (30s …)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Where this command''s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a request after this long: 5m, 90s, or seconds (0: never)')
            [CompletionResult]::new('--fallback-model', '--fallback-model', [CompletionResultType]::ParameterName, 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector''s fallback_models)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Send requests through this proxy (http://, https://, socks5://, socks5h://)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)')
            [CompletionResult]::new('--lease-ttl', '--lease-ttl', [CompletionResultType]::ParameterName, 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)')
            [CompletionResult]::new('--history-days', '--history-days', [CompletionResultType]::ParameterName, 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come')
            [CompletionResult]::new('--connectors-dir', '--connectors-dir', [CompletionResultType]::ParameterName, 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level: error, warn, info, debug or trace [default: warn]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color stderr')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Serve every connector that has keys (in the key file or the environment)')
            [CompletionResult]::new('--metrics-public', '--metrics-public', [CompletionResultType]::ParameterName, 'Serve /metrics (Prometheus) without the token, for a scraper that can''t send one; everything else still needs it')
            [CompletionResult]::new('--tor', '--tor', [CompletionResultType]::ParameterName, 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v info, -vv debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'jongler;help' {
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'See the whole job done on this machine: no config, keys or network needed')
            [CompletionResult]::new('keys', 'keys', [CompletionResultType]::ParameterValue, 'Import, add, remove and list keys in the key file')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every key''s state, until-when and why (-v: every limit, every key)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check every key with a request that costs no quota; mark bad keys ERROR')
            [CompletionResult]::new('batch', 'batch', [CompletionResultType]::ParameterValue, 'Send a JSONL file of requests through the whole pool; resumable')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve a local proxy on the same pool, for SDKs and OpenAI-style tools')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'jongler;help;demo' {
            break
        }
        'jongler;help;keys' {
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Add the keys of FILE (''-'': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove keys by name, and their LOCKDOWN and ERROR marks')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the keys'' names and states (never their values)')
            break
        }
        'jongler;help;keys;import' {
            break
        }
        'jongler;help;keys;add' {
            break
        }
        'jongler;help;keys;remove' {
            break
        }
        'jongler;help;keys;list' {
            break
        }
        'jongler;help;completions' {
            break
        }
        'jongler;help;status' {
            break
        }
        'jongler;help;check' {
            break
        }
        'jongler;help;batch' {
            break
        }
        'jongler;help;serve' {
            break
        }
        'jongler;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
