// Package config loads, validates and prints Countersign's configuration
// (README, "Configuration"): one YAML file, then COUNTERSIGN_… environment variables,
// then secrets read from *_file keys. It is loaded and validated once, at
// start-up, and passed to whoever needs a part of it.
//
// The rules, which reference.md states for users:
//
//   - Every key has a default (Default); the file overrides defaults, the
//     environment overrides the file.
//   - A key's environment variable is COUNTERSIGN_ followed by the key in
//     upper case with dots, and the hyphens and colons of action names, as
//     "_": slack.bot_token is COUNTERSIGN_SLACK_BOT_TOKEN,
//     routes.reset-password is COUNTERSIGN_ROUTES_RESET_PASSWORD,
//     policy.actions.purge-mail:permanent.approvals_required is
//     COUNTERSIGN_POLICY_ACTIONS_PURGE_MAIL_PERMANENT_APPROVALS_REQUIRED.
//     Because "_" is also a separator inside key names, a variable is never
//     split by guessing: it is looked up in a table of every key, derived
//     from the Config struct (and the action names for routes and
//     policy.actions). An unknown COUNTERSIGN_ variable is an error. Lists
//     are comma-separated; an empty value is ignored; people: is file-only.
//   - Each secret K (struct tag `secret`) may instead be K_file in YAML or
//     COUNTERSIGN_…_FILE in the environment, naming a file whose content,
//     less one trailing newline, is the value. K and K_file together in one
//     place are an error; the environment replaces the file's choice.
//   - Unknown keys in the file are errors. Every problem, from decoding or
//     validation, is reported at once: a *KeyError each, joined with
//     errors.Join, one a line, never showing a secret.
//   - Redacted prints the effective configuration with secrets replaced by
//     REDACTED, in the shape Load reads.
//   - Warnings lists what a valid configuration likely gets wrong (no
//     people:, no provider, Slack approvers no one in people: is, a digest
//     channel outside the channels, the placeholder ids countersign init
//     writes); config check prints them and still exits 0.
//   - UnreadSecretFiles loads without reading *_file secrets, for commands
//     that need none (slack manifest), before the secrets exist.
//   - slack.command_prefix names the action commands /<prefix><action>;
//     it must leave every command within Slack's 32 characters.
package config
