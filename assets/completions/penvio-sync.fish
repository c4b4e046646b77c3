# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_penvio_sync_global_optspecs
    string join \n c/config= allow-insecure-secret-files h/help V/version
end

function __fish_penvio_sync_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_penvio_sync_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_penvio_sync_using_subcommand
    set -l cmd (__fish_penvio_sync_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -s V -l version -d 'Print version'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "sync" -d 'Run once: fetch, plan against the snapshot, apply the changes'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "plan" -d 'Show what `sync` would do, operation by operation; nothing is sent'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "apply" -d 'Apply a plan written by `plan --out`: only what is still planned now is sent; anything else, or a moved snapshot, is refused (exit code 5)'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "reconcile" -d 'Compare with what Penvio really holds, repair drift, rebuild the snapshot'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "check" -d 'Validate the config and show what each connection will do'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "state" -d 'Inspect or reset the snapshot'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "audit" -d 'Show the audit trail of changes applied to Penvio'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "explain" -d 'Explain, step by step, why a user or team is (or is not) in Penvio and what the next sync would do about it'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "daemon" -d 'Run every connection on its schedule and serve the local endpoint (metrics, health, on-demand runs) until stopped'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "demo" -d 'Run the engine end to end against a built-in directory and a local SCIM emulator: no network, no config needed'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "init" -d 'Write a commented starter config for one provider (never overwrites)'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "completions" -d 'Print the shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "man" -d 'Print the man page (roff)'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "config" -d 'Config file tools'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "notify" -d 'Alert channels (`notifications:`)'
complete -c penvio-sync -n "__fish_penvio_sync_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -l connection -d 'Only this connection (default: all, one after the other)' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -l only -d 'Provision on demand: only this user (email or source id) and their memberships in existing teams; repeatable. Everything else waits for the next full run' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -l dry-run -d 'Plan and report, send nothing'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -l allow-deletions -d 'Apply deactivations and deletions over the guard\'s limits'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -l json -d 'Print the run report as JSON'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand sync" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand plan" -l connection -d 'Only this connection' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand plan" -l out -d 'Also write the plan to this file, for review and `penvio-sync apply`' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand plan" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand plan" -l json -d 'Print the plan as JSON'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand plan" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand plan" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand apply" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand apply" -l allow-deletions -d 'Also apply the destructive operations the guard held back'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand apply" -l json -d 'Print the run reports as JSON'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand apply" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand apply" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -l connection -d 'Only this connection (default: all, one after the other)' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -l only -d 'Provision on demand: only this user (email or source id) and their memberships in existing teams; repeatable. Everything else waits for the next full run' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -l dry-run -d 'Plan and report, send nothing'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -l allow-deletions -d 'Apply deactivations and deletions over the guard\'s limits'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -l json -d 'Print the run report as JSON'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -l adopt -d 'Also take over Penvio users and teams that match nothing in the directory (they will be deactivated or deleted, within the guard)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand reconcile" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand check" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand check" -l connectivity -d 'Also authenticate to every source and target'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand check" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand check" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and not __fish_seen_subcommand_from show export forget help" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and not __fish_seen_subcommand_from show export forget help" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and not __fish_seen_subcommand_from show export forget help" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and not __fish_seen_subcommand_from show export forget help" -f -a "show" -d 'Counts and the last run, per connection'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and not __fish_seen_subcommand_from show export forget help" -f -a "export" -d 'The whole snapshot as JSON'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and not __fish_seen_subcommand_from show export forget help" -f -a "forget" -d 'Delete a connection\'s snapshot (the next sync links users again by userName; run `reconcile` to rebuild it from Penvio instead)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and not __fish_seen_subcommand_from show export forget help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from show" -l connection -d 'Only this connection' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from show" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from show" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from export" -l connection -d 'Only this connection' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from export" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from export" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from forget" -l connection -d 'The connection to forget' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from forget" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from forget" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from forget" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "show" -d 'Counts and the last run, per connection'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "export" -d 'The whole snapshot as JSON'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "forget" -d 'Delete a connection\'s snapshot (the next sync links users again by userName; run `reconcile` to rebuild it from Penvio instead)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand audit" -l connection -d 'Only this connection' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand audit" -l since -d 'Only events since this long ago (`1h`, `7d`) or since this time (RFC 3339, e.g. `2026-11-30T00:00:00Z`)' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand audit" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand audit" -l json -d 'Print the events as JSON lines'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand audit" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand audit" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand explain" -l connection -d 'Only this connection' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand explain" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand explain" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand explain" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand daemon" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand daemon" -l allow-root -d 'Run even as root (not recommended: use a dedicated user)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand daemon" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand daemon" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand demo" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand demo" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand demo" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand init" -l source -d 'The identity provider' -r -f -a "okta\t''
entra\t''
onelogin\t''
jumpcloud\t''
pingone\t''
google\t''
ldap\t''
scim\t''
file\t''"
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand init" -l output -d 'Where to write it (default: the --config path)' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand init" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand init" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand init" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand completions" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand completions" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand completions" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand man" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand man" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand man" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and not __fish_seen_subcommand_from schema help" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and not __fish_seen_subcommand_from schema help" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and not __fish_seen_subcommand_from schema help" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and not __fish_seen_subcommand_from schema help" -f -a "schema" -d 'Print the JSON Schema of the config file, for editors: save it and put `# yaml-language-server: $schema=/path/to/penvio-sync.schema.json` at the top of the config'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and not __fish_seen_subcommand_from schema help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and __fish_seen_subcommand_from schema" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and __fish_seen_subcommand_from schema" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and __fish_seen_subcommand_from schema" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "schema" -d 'Print the JSON Schema of the config file, for editors: save it and put `# yaml-language-server: $schema=/path/to/penvio-sync.schema.json` at the top of the config'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and not __fish_seen_subcommand_from test help" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and not __fish_seen_subcommand_from test help" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and not __fish_seen_subcommand_from test help" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and not __fish_seen_subcommand_from test help" -f -a "test" -d 'Send a test message through each configured channel and report per channel (exit code 1 if any failed)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and not __fish_seen_subcommand_from test help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and __fish_seen_subcommand_from test" -l name -d 'Only the channel with this name' -r
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and __fish_seen_subcommand_from test" -s c -l config -d 'Config file' -r -F
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and __fish_seen_subcommand_from test" -l allow-insecure-secret-files -d 'Accept secret files readable by group or others (containers whose mounts cannot set modes). Prefer `chmod 600`'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and __fish_seen_subcommand_from test" -s h -l help -d 'Print help'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "test" -d 'Send a test message through each configured channel and report per channel (exit code 1 if any failed)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "sync" -d 'Run once: fetch, plan against the snapshot, apply the changes'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "plan" -d 'Show what `sync` would do, operation by operation; nothing is sent'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "apply" -d 'Apply a plan written by `plan --out`: only what is still planned now is sent; anything else, or a moved snapshot, is refused (exit code 5)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "reconcile" -d 'Compare with what Penvio really holds, repair drift, rebuild the snapshot'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "check" -d 'Validate the config and show what each connection will do'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "state" -d 'Inspect or reset the snapshot'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "audit" -d 'Show the audit trail of changes applied to Penvio'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "explain" -d 'Explain, step by step, why a user or team is (or is not) in Penvio and what the next sync would do about it'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "daemon" -d 'Run every connection on its schedule and serve the local endpoint (metrics, health, on-demand runs) until stopped'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "demo" -d 'Run the engine end to end against a built-in directory and a local SCIM emulator: no network, no config needed'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "init" -d 'Write a commented starter config for one provider (never overwrites)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "completions" -d 'Print the shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "man" -d 'Print the man page (roff)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "config" -d 'Config file tools'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "notify" -d 'Alert channels (`notifications:`)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and not __fish_seen_subcommand_from sync plan apply reconcile check state audit explain daemon demo init completions man config notify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "show" -d 'Counts and the last run, per connection'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "export" -d 'The whole snapshot as JSON'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "forget" -d 'Delete a connection\'s snapshot (the next sync links users again by userName; run `reconcile` to rebuild it from Penvio instead)'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "schema" -d 'Print the JSON Schema of the config file, for editors: save it and put `# yaml-language-server: $schema=/path/to/penvio-sync.schema.json` at the top of the config'
complete -c penvio-sync -n "__fish_penvio_sync_using_subcommand help; and __fish_seen_subcommand_from notify" -f -a "test" -d 'Send a test message through each configured channel and report per channel (exit code 1 if any failed)'
