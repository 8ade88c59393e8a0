# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_jongler_global_optspecs
    string join \n pretty allow-empty-body i/include cleanup= cleanup-all wait= priority= timeout= fallback-model= tor proxy= config= state-dir= state= lease-ttl= history-days= connectors-dir= log-level= v/verbose q/quiet color= h/help V/version
end

function __fish_jongler_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_jongler_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_jongler_using_subcommand
    set -l cmd (__fish_jongler_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c jongler -n "__fish_jongler_needs_command" -l cleanup -d 'Remove LOCKDOWN and ERROR markers and stale locks of one connector' -r
complete -c jongler -n "__fish_jongler_needs_command" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_needs_command" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_needs_command" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_needs_command" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_needs_command" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_needs_command" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_needs_command" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_needs_command" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_needs_command" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_needs_command" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_needs_command" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_needs_command" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_needs_command" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_needs_command" -l pretty -d 'Indent a JSON answer'
complete -c jongler -n "__fish_jongler_needs_command" -l allow-empty-body -d 'Send a POST, PUT or PATCH without a body to a JSON connector (else refused: it would cost quota for an error)'
complete -c jongler -n "__fish_jongler_needs_command" -s i -l include -d 'Print the status line and headers before the body'
complete -c jongler -n "__fish_jongler_needs_command" -l cleanup-all -d 'Remove LOCKDOWN and ERROR markers and stale locks of every connector'
complete -c jongler -n "__fish_jongler_needs_command" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_needs_command" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_needs_command" -s V -l version -d 'Print version'
complete -c jongler -n "__fish_jongler_needs_command" -a "demo" -d 'See the whole job done on this machine: no config, keys or network needed'
complete -c jongler -n "__fish_jongler_needs_command" -a "keys" -d 'Import, add, remove and list keys in the key file'
complete -c jongler -n "__fish_jongler_needs_command" -a "completions" -d 'Print a shell completion script'
complete -c jongler -n "__fish_jongler_needs_command" -a "status" -d 'Show every key\'s state, until-when and why (-v: every limit, every key)'
complete -c jongler -n "__fish_jongler_needs_command" -a "check" -d 'Check every key with a request that costs no quota; mark bad keys ERROR'
complete -c jongler -n "__fish_jongler_needs_command" -a "batch" -d 'Send a JSONL file of requests through the whole pool; resumable'
complete -c jongler -n "__fish_jongler_needs_command" -a "serve" -d 'Serve a local proxy on the same pool, for SDKs and OpenAI-style tools'
complete -c jongler -n "__fish_jongler_needs_command" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l requests -d 'Requests to deliver' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l workers -d 'Requests in flight at once' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l keys -d 'Keys in the pool (the last one is invalid)' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand demo" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand demo" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand demo" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -f -a "import" -d 'Add the keys of FILE (\'-\': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -f -a "add" -d 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -f -a "remove" -d 'Remove keys by name, and their LOCKDOWN and ERROR marks'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -f -a "list" -d 'List the keys\' names and states (never their values)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and not __fish_seen_subcommand_from import add remove list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l check -d 'Check each key added (a request that costs no quota)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l json -d 'Print JSON'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "import" -d 'Add the keys of FILE (\'-\': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove keys by name, and their LOCKDOWN and ERROR marks'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the keys\' names and states (never their values)'
complete -c jongler -n "__fish_jongler_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand completions" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand completions" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand status" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand status" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand status" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand status" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand status" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand status" -l json -d 'Print JSON instead of a table'
complete -c jongler -n "__fish_jongler_using_subcommand status" -l history -d 'The usage history: per day, requests, tokens, rate limits and errors, per client (and -v or --json: per key)'
complete -c jongler -n "__fish_jongler_using_subcommand status" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand status" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand status" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand check" -l concurrency -d 'How many keys to check at once (each key by one request at a time)' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand check" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand check" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand check" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand check" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand check" -l json -d 'Print JSON instead of a table'
complete -c jongler -n "__fish_jongler_using_subcommand check" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand check" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand check" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l in -d 'The requests, one per line (\'-\': stdin)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l out -d 'Where answers go, one per line; appended to, and read first to resume (\'-\': stdout)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l template -d 'Input lines are plain text, JSON-escaped into this body at {{text}}' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l concurrency -d 'At most this many requests in flight [default: the keys not in ERROR, up to 256]' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l progress-every -d 'Without a terminal, a progress line this often (10s, 1m …; 0: none)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l unordered -d 'Write answers as they complete instead of in input order'
complete -c jongler -n "__fish_jongler_using_subcommand batch" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand batch" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand batch" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand batch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l listen -d 'Address to listen on' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l token -d 'The token clients must present (without one, only loopback listening is allowed); prefer JONGLER_PROXY_TOKEN or --token-file: a command line is visible to every user in `ps`' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l token-file -d 'Read the token from this file (its first line)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l clients -d 'Named clients: a file of [client NAME] sections, each with its token and optionally priority, max_in_flight and limits [default: those in the key file]; edits apply without a restart' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l stall-timeout -d 'A client that reads nothing of a streamed answer for this long (30s, 1m …) loses it, and its key is released' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l header-timeout -d 'A connection gets this long (30s, 1m …) to send a request\'s headers, from when it opens or its last answer ends (idle connections close too)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l shutdown-timeout -d 'After SIGTERM/SIGINT, requests in flight get this long to finish (30s …)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l wait -d 'How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l priority -d 'Where this command\'s calls stand among those waiting for a key, in every process on the pool: high, normal or low [default: normal; batch: low]' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l timeout -d 'Give up on a request after this long: 5m, 90s, or seconds (0: never)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l fallback-model -d 'When every key is out of its daily quota for the model asked for, use this one instead (repeat for a chain; default: the connector\'s fallback_models)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l proxy -d 'Send requests through this proxy (http://, https://, socks5://, socks5h://)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l config -d 'INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l state-dir -d 'Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l state -d 'Keep key state in Redis instead of the state dir, shared by every machine that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l lease-ttl -d 'With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …) (live holders renew their lease)' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l history-days -d 'How many days of usage history (per key and per client) the state keeps; older days are dropped as new ones come' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l connectors-dir -d 'Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)' -r -F
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l log-level -d 'Log level: error, warn, info, debug or trace [default: warn]' -r
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l color -d 'When to color stderr' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l all -d 'Serve every connector that has keys (in the key file or the environment)'
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l metrics-public -d 'Serve /metrics (Prometheus) without the token, for a scraper that can\'t send one; everything else still needs it'
complete -c jongler -n "__fish_jongler_using_subcommand serve" -l tor -d 'Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)'
complete -c jongler -n "__fish_jongler_using_subcommand serve" -s v -l verbose -d 'More log output (-v info, -vv debug)'
complete -c jongler -n "__fish_jongler_using_subcommand serve" -s q -l quiet -d 'Only errors on stderr'
complete -c jongler -n "__fish_jongler_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "demo" -d 'See the whole job done on this machine: no config, keys or network needed'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "keys" -d 'Import, add, remove and list keys in the key file'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "completions" -d 'Print a shell completion script'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "status" -d 'Show every key\'s state, until-when and why (-v: every limit, every key)'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "check" -d 'Check every key with a request that costs no quota; mark bad keys ERROR'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "batch" -d 'Send a JSONL file of requests through the whole pool; resumable'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "serve" -d 'Serve a local proxy on the same pool, for SDKs and OpenAI-style tools'
complete -c jongler -n "__fish_jongler_using_subcommand help; and not __fish_seen_subcommand_from demo keys completions status check batch serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jongler -n "__fish_jongler_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "import" -d 'Add the keys of FILE (\'-\': stdin), one a line (blank lines and `#` comments skipped), as import-0001, import-0002 …; a key the pool has already, under any name, is skipped and named'
complete -c jongler -n "__fish_jongler_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "add" -d 'Add one key named NAME; its value is read from stdin (at a terminal, asked for without echo), never from the command line'
complete -c jongler -n "__fish_jongler_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "remove" -d 'Remove keys by name, and their LOCKDOWN and ERROR marks'
complete -c jongler -n "__fish_jongler_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "list" -d 'List the keys\' names and states (never their values)'
