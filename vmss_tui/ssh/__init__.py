"""SSH to scale-set instances (asyncssh; no Textual).

    settings.py     SshSettings, resolve_target (target choice with the settings)
    session.py      SshSession (PTY shell, or one command without a PTY: run()), host key checks,
                    auth prompts (non_interactive_prompts for `get` and surveys), SshFailure, ssh_command
    guest.py        inspect_guest / inspect_instance (the guest's disks over one exec), run_check_command
    known_hosts.py  the app's own known_hosts file (OpenSSH format) and host key verdicts
    keys.py         where client keys come from (agent, flag, ~/.ssh/config, ~/.ssh/id_*)
    probe.py        TCP probe of an endpoint: listening / refused / timed out

Kept empty of imports: `vmss_tui.ssh.settings` must not load asyncssh (the console imports it
before its first frame).
"""
