package commands

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
)

const guid = "6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b"

type validCase struct {
	name, command, text string
	want                Command
}

func spec(a approvals.Action, targets ...string) approvals.Spec {
	return approvals.Spec{Action: a, Targets: targets}
}

func withReason(s approvals.Spec, r string) approvals.Spec   { s.Reason = r; return s }
func withProvider(s approvals.Spec, p string) approvals.Spec { s.Provider = p; return s }

func purge(target string, m approvals.MailOptions) approvals.Spec {
	return approvals.Spec{Action: approvals.ActionPurgeMail, Targets: []string{target}, Mail: &m}
}

// validCases are inputs Parse accepts, with what it must return. They also
// seed FuzzParse.
func validCases() []validCase {
	disable := func(targets ...string) approvals.Spec { return spec(approvals.ActionDisable, targets...) }
	return []validCase{
		// Account actions and addresses.
		{"one address, lower-cased", "disable", "Mallory@Contoso.com --reason phish",
			Command{Name: Disable, Spec: withReason(disable("mallory@contoso.com"), "phish")}},
		{"slash, case, commas, semicolons, duplicates in order", "/Disable", "b@contoso.com,a@contoso.com;  B@contoso.com c@contoso.com,",
			Command{Name: Disable, Spec: disable("b@contoso.com", "a@contoso.com", "c@contoso.com")}},
		{"UPN characters", "disable", "o'brien.j+sec@sub-1.contoso.co.uk",
			Command{Name: Disable, Spec: disable("o'brien.j+sec@sub-1.contoso.co.uk")}},
		{"punycode domain", "disable", "a@xn--mnchen-3ya.de", Command{Name: Disable, Spec: disable("a@xn--mnchen-3ya.de")}},
		{"slack mailto markup", "disable", `<mailto:mallory@contoso.com|mallory@contoso.com> --reason "INC-1 phish"`,
			Command{Name: Disable, Spec: withReason(disable("mallory@contoso.com"), "INC-1 phish")}},
		{"slack mailto markup, label in another case", "disable", "<mailto:Mallory@contoso.com|mallory@Contoso.com>",
			Command{Name: Disable, Spec: disable("mallory@contoso.com")}},
		{"slack mailto without label", "reset-password", "<mailto:eve@contoso.com>",
			Command{Name: ResetPassword, Spec: spec(approvals.ActionResetPassword, "eve@contoso.com")}},
		{"markup list with commas", "revoke-sessions", "<mailto:a@contoso.com|a@contoso.com>,<mailto:b@contoso.com|b@contoso.com>",
			Command{Name: RevokeSessions, Spec: spec(approvals.ActionRevokeSessions, "a@contoso.com", "b@contoso.com")}},
		{"every account action", "enable-mfa", "a@contoso.com", Command{Name: EnableMFA, Spec: spec(approvals.ActionEnableMFA, "a@contoso.com")}},
		{"enable", "enable", "a@contoso.com --provider graph",
			Command{Name: Enable, Spec: withProvider(spec(approvals.ActionEnable, "a@contoso.com"), "graph")}},
		{"require-signin", "require-signin", "a@contoso.com", Command{Name: RequireSignin, Spec: spec(approvals.ActionRequireSignIn, "a@contoso.com")}},
		{"mark-compromised", "mark-compromised", "a@contoso.com", Command{Name: MarkCompromised, Spec: spec(approvals.ActionMarkCompromised, "a@contoso.com")}},

		// Flags and quoting.
		{"smart quotes, equals, provider in capitals", "disable", "eve@contoso.com --reason=“stolen laptop” --provider=TMCAS --dry-run",
			Command{Name: Disable, DryRun: true, Spec: withProvider(withReason(disable("eve@contoso.com"), "stolen laptop"), "tmcas")}},
		{"phone em dash and en dash", "disable", "eve@contoso.com —reason 'lost phone' –dry-run",
			Command{Name: Disable, DryRun: true, Spec: withReason(disable("eve@contoso.com"), "lost phone")}},
		{"apostrophe inside single quotes", "disable", `eve@contoso.com --reason 'it's gone' --dry-run`,
			Command{Name: Disable, DryRun: true, Spec: withReason(disable("eve@contoso.com"), "it's gone")}},
		{"curly apostrophe inside curly quotes", "disable", "eve@contoso.com --reason ‘it’s gone’",
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), "it’s gone")}},
		{"German quotes", "disable", "eve@contoso.com --reason „verloren“",
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), "verloren")}},
		{"quoted text that looks like a flag", "disable", `eve@contoso.com --reason "--dry-run was not enough"`,
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), "--dry-run was not enough")}},
		{"quote inside a word is text", "disable", `eve@contoso.com --reason said"hi"`,
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), `said"hi"`)}},
		{"reason trimmed, inner spaces kept", "disable", `eve@contoso.com --reason "  two  spaces "`,
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), "two  spaces")}},
		{"flags before targets, tabs and newlines between words", "disable", "--dry-run\t--reason x\n eve@contoso.com",
			Command{Name: Disable, DryRun: true, Spec: withReason(disable("eve@contoso.com"), "x")}},
		{"flag names in capitals", "disable", "eve@contoso.com --Reason x --DRY-RUN",
			Command{Name: Disable, DryRun: true, Spec: withReason(disable("eve@contoso.com"), "x")}},
		{"reason with slack link, mention and entities", "disable",
			`eve@contoso.com --reason "see <https://jira.example/INC-1|INC-1> &amp; <https://x.example>, ask <@U123|bob> in <#C1|soc> &lt;3"`,
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), "see INC-1 & https://x.example, ask @bob in #soc <3")}},
		{"reason with slack special mention", "disable", `eve@contoso.com --reason "<!here> look"`,
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), "@here look")}},
		{"reason with entities written by Quote", "disable", `eve@contoso.com --reason "a&#34; b&#8221;"`,
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), `a" b”`)}},
		{"reason with emoji", "disable", `eve@contoso.com --reason "🧑‍💻 phish"`,
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), "🧑‍💻 phish")}},
		{"reason of 500 characters", "disable", "eve@contoso.com --reason " + strings.Repeat("é", MaxReason),
			Command{Name: Disable, Spec: withReason(disable("eve@contoso.com"), strings.Repeat("é", MaxReason))}},

		// Umbrella form.
		{"umbrella form", "countersign", "revoke-sessions eve@contoso.com",
			Command{Name: RevokeSessions, Spec: spec(approvals.ActionRevokeSessions, "eve@contoso.com")}},
		{"umbrella with slash and capitals", "/countersign", "  /Revoke-Sessions eve@contoso.com",
			Command{Name: RevokeSessions, Spec: spec(approvals.ActionRevokeSessions, "eve@contoso.com")}},

		// purge-mail.
		{"purge graph guid, every flag", "purge-mail", strings.ToUpper(guid) + " --action hard-delete --recipient a@contoso.com --recipient=B@contoso.com --recipient a@contoso.com --severity HIGH --senders-copy",
			Command{Name: PurgeMail, Spec: purge(guid, approvals.MailOptions{Action: "hard-delete", Recipients: []string{"a@contoso.com", "b@contoso.com"}, Severity: "high", SendersCopy: true})}},
		{"purge guid in braces, action left to the router", "purge-mail", "{" + guid + "}",
			Command{Name: PurgeMail, Spec: purge(guid, approvals.MailOptions{})}},
		{"purge with graph fills graph's default", "purge-mail", guid + " --provider graph",
			Command{Name: PurgeMail, Spec: withProvider(purge(guid, approvals.MailOptions{Action: "soft-delete"}), "graph")}},
		{"purge with tmcas fills tmcas's default", "purge-mail", "<CA+x.1@mail.contoso.com> --provider tmcas",
			Command{Name: PurgeMail, Spec: withProvider(purge("<CA+x.1@mail.contoso.com>", approvals.MailOptions{Action: "quarantine"}), "tmcas")}},
		{"purge tmcas message id as slack escapes it", "purge-mail", "&lt;abc.123@mail.contoso.com&gt; --provider tmcas --action delete",
			Command{Name: PurgeMail, Spec: withProvider(purge("<abc.123@mail.contoso.com>", approvals.MailOptions{Action: "delete"}), "tmcas")}},
		{"purge message id slack turned into a link", "purge-mail", "&lt;<mailto:abc@mail.contoso.com|abc@mail.contoso.com>&gt; --action quarantine",
			Command{Name: PurgeMail, Spec: purge("<abc@mail.contoso.com>", approvals.MailOptions{Action: "quarantine"})}},
		{"purge message id without provider", "purge-mail", "<abc@mail.contoso.com>",
			Command{Name: PurgeMail, Spec: purge("<abc@mail.contoso.com>", approvals.MailOptions{})}},
		{"purge recipients with markup", "purge-mail", guid + " --recipient <mailto:a@contoso.com|a@contoso.com>",
			Command{Name: PurgeMail, Spec: purge(guid, approvals.MailOptions{Recipients: []string{"a@contoso.com"}})}},

		// block-ip.
		{"block ip v6 normalised", "block-ip", "2001:DB8::0:7", Command{Name: BlockIP, Spec: spec(approvals.ActionBlockIP, "2001:db8::7")}},
		{"block v4-mapped v6 unmapped", "block-ip", "::ffff:203.0.113.7", Command{Name: BlockIP, Spec: spec(approvals.ActionBlockIP, "203.0.113.7")}},
		{"block private ip", "block-ip", "10.1.2.3 --reason lateral --provider graph",
			Command{Name: BlockIP, Spec: withProvider(withReason(spec(approvals.ActionBlockIP, "10.1.2.3"), "lateral"), "graph")}},

		// Meta commands.
		{"help overview", "countersign", "", Command{Name: Help}},
		{"help overview, blank", "countersign", " \t ", Command{Name: Help}},
		{"help", "countersign", "help", Command{Name: Help}},
		{"help topic", "countersign", "help /Purge-Mail", Command{Name: Help, Topic: PurgeMail}},
		{"help on help", "help", "help", Command{Name: Help, Topic: Help}},
		{"help countersign", "countersign", "help countersign", Command{Name: Help}},
		{"status with hash", "countersign", "status #42", Command{Name: Status, RequestID: 42}},
		{"status largest id", "status", "9223372036854775807", Command{Name: Status, RequestID: 9223372036854775807}},
		{"cancel", "countersign", "cancel 7", Command{Name: Cancel, RequestID: 7}},
		{"pending", "countersign", "pending", Command{Name: Pending}},
		{"explain", "countersign", "explain /disable eve@contoso.com --reason x --dry-run",
			Command{Name: Explain, DryRun: true, Spec: withReason(disable("eve@contoso.com"), "x")}},
		{"explain umbrella line", "explain", "countersign purge-mail " + guid + " --action junk",
			Command{Name: Explain, Spec: purge(guid, approvals.MailOptions{Action: "junk"})}},
	}
}

func TestParse(t *testing.T) {
	for _, tt := range validCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.command, tt.text)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.command, tt.text, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q, %q) (-want +got):\n%s", tt.command, tt.text, diff)
			}
		})
	}
}

type errorCase struct {
	name, command, text string
	msg, hint           string
}

// errorCases are inputs Parse refuses, with the exact error. They also
// seed FuzzParse.
func errorCases() []errorCase {
	const addr = "give an e-mail address or UPN, such as mallory@contoso.com"
	return []errorCase{
		// Commands.
		{"no command", "", "a@contoso.com", "no command given", "type /countersign help for the list of commands"},
		{"unknown command", "disabel", "a@x.com", `unknown command "disabel"`, "did you mean /disable?"},
		{"swapped letters", "dsiable", "a@x.com", `unknown command "dsiable"`, "did you mean /disable?"},
		{"unknown meta command", "countersign", "statsu 4", `unknown command "statsu"`, "did you mean /countersign status?"},
		{"prefix of one command", "countersign", "purge " + guid, `unknown command "purge"`, "did you mean /purge-mail?"},
		{"far from every command", "countersign", "frobnicate", `unknown command "frobnicate"`, "type /countersign help for the list of commands"},
		{"umbrella twice", "countersign", "countersign disable a@contoso.com", `unknown command "countersign"`, "type /countersign help for the list of commands"},
		{"too long", "disable", strings.Repeat("a", MaxInput+1), "the command is 4001 characters long; the limit is 4000", "split the targets over several requests"},
		{"not UTF-8", "disable", "a@contoso.com --reason \xff", "the command is not valid UTF-8 text", ""},

		// Flags.
		{"flag typo", "disable", "a@contoso.com --reasn x", "/disable has no flag --reasn", "did you mean --reason?"},
		{"flag of another command", "disable", "a@contoso.com --severity high", "/disable has no flag --severity", "--severity is a flag of /purge-mail"},
		{"action flag on a meta command", "countersign", "status 4 --reason x", "/countersign status has no flag --reason", "--reason is for the action commands, such as /disable"},
		{"unknown flag on a command without flags", "countersign", "pending --all", "/countersign pending has no flag --all", "/countersign pending takes no flags"},
		{"unknown flag far from any", "disable", "a@contoso.com --frobnicate", "/disable has no flag --frobnicate", "see /countersign help disable"},
		{"bare dashes", "disable", "a@contoso.com --", `"--" is not a flag`, "flags look like --reason"},
		{"one dash", "disable", "a@contoso.com -dry-run", `"-dry-run" has one dash`, "flags start with two: --dry-run"},
		{"reason missing value", "disable", "a@contoso.com --reason", "--reason needs a value", `quote it: --reason "phishing, INC-4711"`},
		{"reason followed by a flag", "disable", "a@contoso.com --reason --dry-run", "--reason needs a value", `quote it: --reason "phishing, INC-4711"`},
		{"equals with nothing", "disable", "a@contoso.com --reason= x", "--reason needs a value", `quote it: --reason "phishing, INC-4711"`},
		{"enum missing value", "purge-mail", guid + " --severity", "--severity needs a value", "one of low, medium, high"},
		{"recipient missing value", "purge-mail", guid + " --recipient", "--recipient needs a value", "an e-mail address, such as --recipient mallory@contoso.com"},
		{"repeated flag", "disable", "a@contoso.com --reason a --reason b", "--reason is given twice", "give it once"},
		{"repeated bool flag", "disable", "a@contoso.com --dry-run --dry-run", "--dry-run is given twice", "give it once"},
		{"bool with value", "disable", "a@contoso.com --dry-run=yes", "--dry-run takes no value", "write just --dry-run"},
		{"unclosed quote", "disable", `a@contoso.com --reason "phish`, `the quote before "phish" is not closed`, `end the quoted text with " followed by a space, such as --reason "phishing, INC-4711"`},
		{"unclosed smart quote", "disable", "a@contoso.com --reason “phish", `the quote before "phish" is not closed`, "end the quoted text with ” followed by a space, such as --reason “phishing, INC-4711”"},
		{"closing quote not before a space", "disable", `a@contoso.com --reason "a"b`, `the quote before "a\"b" is not closed`, `end the quoted text with " followed by a space, such as --reason "phishing, INC-4711"`},

		// Provider.
		{"unknown provider", "disable", "a@contoso.com --provider graf", `unknown provider "graf"`, "did you mean --provider graph?"},
		{"unknown provider far off", "disable", "a@contoso.com --provider okta", `unknown provider "okta"`, "use --provider tmcas or --provider graph"},
		{"provider that cannot do it", "enable", "a@contoso.com --provider tmcas", "/enable is not available on tmcas", "leave out --provider, or use --provider graph"},
		{"graph cannot enable mfa", "enable-mfa", "a@contoso.com --provider graph", "/enable-mfa is not available on graph", "leave out --provider, or use --provider tmcas"},
		{"tmcas cannot block", "block-ip", "203.0.113.7 --provider tmcas", "/block-ip is not available on tmcas", "leave out --provider, or use --provider graph"},

		// Addresses.
		{"no target", "disable", "--reason x", "/disable needs a user", `for example: /disable mallory@contoso.com --reason "phishing, INC-4711"`},
		{"only commas", "disable", ",,", "no user address given", "for example: /disable mallory@contoso.com"},
		{"no @", "disable", "mallory", `"mallory" is not a user address: it has no @`, addr},
		{"two @", "disable", "a@b@contoso.com", `"a@b@contoso.com" is not a user address: it has more than one @`, addr},
		{"empty local part", "disable", "@contoso.com", `"@contoso.com" is not a user address: nothing comes before the @`, addr},
		{"empty domain", "disable", "a@", `"a@" is not a user address: nothing comes after the @`, addr},
		{"dots", "disable", "a..b@contoso.com", `"a..b@contoso.com" is not a user address: the part before the @ has a dot at its start or end, or two in a row`, addr},
		{"bad local character", "disable", "a%b@contoso.com", `"a%b@contoso.com" is not a user address: '%' is not allowed before the @`, addr},
		{"domain without dot", "disable", "a@localhost", `"a@localhost" is not a user address: the domain "localhost" has no dot`, addr},
		{"domain is an IP", "disable", "a@10.0.0.1", `"a@10.0.0.1" is not a user address: the domain "10.0.0.1" is a number, not a name`, addr},
		{"domain hyphen", "disable", "a@-x.com", `"a@-x.com" is not a user address: a part of the domain "-x.com" starts or ends with a hyphen`, addr},
		{"domain empty label", "disable", "a@x..com", `"a@x..com" is not a user address: the domain "x..com" has an empty part`, addr},
		{"domain underscore", "disable", "a@x_y.com", `"a@x_y.com" is not a user address: '_' is not allowed in the domain`, addr},
		{"local part too long", "disable", strings.Repeat("a", 65) + "@x.com", `"` + strings.Repeat("a", 60) + `…" is not a user address: the part before the @ is 65 characters long; the limit is 64`, addr},
		{"address too long", "disable", "a@" + strings.Repeat("b", 250) + ".com", `"a@` + strings.Repeat("b", 58) + `…" is not a user address: it is 256 characters long; the limit is 254`, addr},
		{"non-ASCII", "disable", "jürgen@contoso.com", `"jürgen@contoso.com" is not a user address: it contains 'ü'; only ASCII letters, digits and . _ - + ' ! # ^ ~ may be used`, "internationalised domains are written in punycode (xn--…)"},
		{"zero-width space", "disable", "a@contoso.com\u200b", `"a@contoso.com\u200b" is not a user address: it contains the invisible character U+200B`, "type the address again rather than pasting it"},
		{"control character", "disable", "a\x01@contoso.com", `"a\x01@contoso.com" is not a user address: it contains the invisible character U+0001`, "type the address again rather than pasting it"},
		{"quoted space", "disable", `"a b@contoso.com"`, `"a b@contoso.com" is not a user address: it contains a space`, addr},
		{"angle brackets", "disable", "&lt;a@contoso.com&gt;", `"<a@contoso.com>" is not a user address: it has angle brackets`, "did you mean a@contoso.com?"},
		{"mailto prefix", "disable", "mailto:A@contoso.com", `"mailto:A@contoso.com" is not a user address: it starts with "mailto:"`, "did you mean a@contoso.com?"},
		{"web link is not an address", "disable", "<https://evil.example|mallory@contoso.com>", `"<https://evil.example|mallory@contoso.com>" is a web link, not a user address`, addr},
		{"http link", "disable", "<http://x.example|x.example>", `"<http://x.example|x.example>" is a web link, not a user address`, addr},
		{"mention is not an address", "disable", "<@U02BOB>", `"<@U02BOB>" is a mention, not a user address`, addr},
		{"discord mention", "disable", "<@!4242>", `"<@!4242>" is a mention, not a user address`, addr},
		{"mailto label differs", "disable", "<mailto:ceo@contoso.com|mallory@contoso.com>", `the link text "mallory@contoso.com" does not match its address "ceo@contoso.com"`, "type the address itself"},
		{"unquoted reason swallows words", "disable", "a@contoso.com --reason phishing campaign", `"campaign" is not a user address: it has no @`, `if it is part of the reason, put the whole reason in quotes: --reason "…"`},
		{"empty recipient list", "purge-mail", guid + " --recipient ,", "no user address given", "for example: --recipient mallory@contoso.com"},
		{"flag with an invisible character", "disable", "a@contoso.com --reason\u200b x", `/disable has no flag "--reason\u200b"`, "did you mean --reason?"},
		{"bad recipient", "purge-mail", guid + " --recipient bob", `"bob" is not a user address: it has no @`, addr},

		// Reasons.
		{"reason empty", "disable", `a@contoso.com --reason ""`, "--reason is empty", `quote it: --reason "phishing, INC-4711"`},
		{"reason blank", "disable", `a@contoso.com --reason "   "`, "--reason is empty", `quote it: --reason "phishing, INC-4711"`},
		{"reason control character", "disable", "a@contoso.com --reason \"a\u0007b\"", "--reason contains the control character U+0007", "type the reason again rather than pasting it"},
		{"reason tab", "disable", "a@contoso.com --reason \"a\tb\"", "--reason contains the control character U+0009", "type the reason again rather than pasting it"},
		{"reason line break", "disable", "a@contoso.com --reason \"a\nb\"", "--reason has a line break", "write the reason on one line"},
		{"reason line separator", "disable", "a@contoso.com --reason \"a\u2028b\"", "--reason has a line break", "write the reason on one line"},
		{"reason NUL as entity", "disable", "a@contoso.com --reason a&#0;b", "--reason contains the control character U+0000", "type the reason again rather than pasting it"},
		{"reason bidi override", "disable", "a@contoso.com --reason \"abc\u202edcba\"", "--reason contains the text-direction character U+202E, which can disguise text", "type the reason again rather than pasting it"},
		{"reason too long", "disable", "a@contoso.com --reason " + strings.Repeat("x", 501), "--reason is 501 characters long; the limit is 500", "keep the details in the ticket and give its number"},

		// purge-mail.
		{"bad mail action", "purge-mail", guid + " --action shred", `--action "shred" is not one of soft-delete, hard-delete, junk, deleted-items, inbox`, ""},
		{"mail action typo", "purge-mail", guid + " --provider graph --action hard-delet", `--action "hard-delet" is not one of soft-delete, hard-delete, junk, deleted-items, inbox`, "did you mean --action hard-delete?"},
		{"tmcas action typo", "purge-mail", "<a@b.c> --action quarantien", `--action "quarantien" is not one of quarantine, delete`, "did you mean --action quarantine?"},
		{"mail action of the other provider", "purge-mail", guid + " --provider graph --action quarantine", "--action quarantine is not available on graph", "graph offers soft-delete, hard-delete, junk, deleted-items, inbox"},
		{"graph action on tmcas", "purge-mail", "<a@b.c> --provider tmcas --action hard-delete", "--action hard-delete is not available on tmcas", "tmcas offers quarantine, delete"},
		{"tmcas action for a guid", "purge-mail", guid + " --action delete", "--action delete is a tmcas action, but this message id is for graph", "graph offers soft-delete, hard-delete, junk, deleted-items, inbox"},
		{"graph action for a message id", "purge-mail", "<a@b.c> --action junk", "--action junk is a graph action, but this message id is for tmcas", "tmcas offers quarantine, delete"},
		{"bad severity", "purge-mail", guid + " --severity hihg", `--severity "hihg" is not one of low, medium, high`, "did you mean --severity high?"},
		{"guid with tmcas", "purge-mail", guid + " --provider tmcas", "TMCAS finds mail by its Internet Message-ID, not a Graph network message id", "give the Message-ID header in angle brackets, such as <abc123@mail.contoso.com>, or use --provider graph"},
		{"message id with graph", "purge-mail", "<a@b.c> --provider graph", "Microsoft Graph finds mail by its network message id (a GUID), not the Message-ID header", "copy the Network Message ID from the Defender portal, or use --provider tmcas"},
		{"severity on tmcas", "purge-mail", "<a@b.c> --provider tmcas --severity high", "--severity is a graph option; tmcas has none like it", "leave out --severity"},
		{"senders copy for a message id", "purge-mail", "<a@b.c> --senders-copy", "--senders-copy is a graph option, and this message id is for tmcas", "leave out --senders-copy"},
		{"not a message id", "purge-mail", "hello", `"hello" is not a message id`, messageIDHint},
		{"guid with one brace", "purge-mail", "{" + guid, `"{` + guid + `" is not a message id`, messageIDHint},
		{"message id without brackets", "purge-mail", "abc@mail.contoso.com --provider tmcas", `"abc@mail.contoso.com" is not a message id`, "an Internet Message-ID keeps its angle brackets: did you mean <abc@mail.contoso.com>?"},
		{"message id slack linked", "purge-mail", "<mailto:abc@mail.contoso.com|abc@mail.contoso.com>", `"abc@mail.contoso.com" is not a message id`, "an Internet Message-ID keeps its angle brackets: did you mean <abc@mail.contoso.com>?"},
		{"message id with space", "purge-mail", `"<a b@c.d>"`, `"<a b@c.d>" is not an Internet Message-ID`, "it looks like <local-part@domain>, printable ASCII without spaces, at most 512 characters"},
		{"message id too long", "purge-mail", "<" + strings.Repeat("a", 510) + "@b>", `"<` + strings.Repeat("a", 59) + `…" is not an Internet Message-ID`, "it looks like <local-part@domain>, printable ASCII without spaces, at most 512 characters"},
		{"message id is a link", "purge-mail", "<https://security.microsoft.com/x|link>", `"<https://security.microsoft.com/x|link>" is a link, not a message id`, messageIDHint},
		{"two message ids", "purge-mail", "<a@b.c> <d@e.f>", `/purge-mail takes one message-id; "<d@e.f>" is extra`, "file one request per message"},
		{"no message id", "purge-mail", "--action junk", "/purge-mail needs a message-id", `for example: /purge-mail 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --action hard-delete --reason "phishing wave"`},

		// block-ip.
		{"loopback", "block-ip", "127.0.0.1", "127.0.0.1 is a loopback address and cannot be blocked", "give the attacker's public or internal address"},
		{"mapped loopback", "block-ip", "::ffff:127.0.0.2", "127.0.0.2 is a loopback address and cannot be blocked", "give the attacker's public or internal address"},
		{"v6 loopback", "block-ip", "::1", "::1 is a loopback address and cannot be blocked", "give the attacker's public or internal address"},
		{"unspecified", "block-ip", "::", ":: is the unspecified address and cannot be blocked", "give the attacker's public or internal address"},
		{"unspecified v4", "block-ip", "0.0.0.0", "0.0.0.0 is the unspecified address and cannot be blocked", "give the attacker's public or internal address"},
		{"multicast", "block-ip", "224.0.0.1", "224.0.0.1 is a multicast address and cannot be blocked", "give the attacker's public or internal address"},
		{"link-local", "block-ip", "fe80::1", "fe80::1 is a link-local address and cannot be blocked", "give the attacker's public or internal address"},
		{"link-local v4", "block-ip", "169.254.1.1", "169.254.1.1 is a link-local address and cannot be blocked", "give the attacker's public or internal address"},
		{"broadcast", "block-ip", "255.255.255.255", "255.255.255.255 is the broadcast address and cannot be blocked", "give the attacker's public or internal address"},
		{"zone", "block-ip", "2001:db8::1%eth0", `"2001:db8::1%eth0" has a zone; a blocked address cannot`, "did you mean 2001:db8::1?"},
		{"range", "block-ip", "203.0.113.0/24", `"203.0.113.0/24" is a range; /block-ip blocks one address`, "give one address, such as 203.0.113.0"},
		{"port", "block-ip", "203.0.113.7:443", `"203.0.113.7:443" is not an IP address`, "without the port: did you mean 203.0.113.7?"},
		{"brackets", "block-ip", "[2001:db8::7]", `"[2001:db8::7]" is not an IP address`, "without the brackets: did you mean 2001:db8::7?"},
		{"leading zeros", "block-ip", "010.0.0.1", `"010.0.0.1" is not an IP address`, "give one address, such as 203.0.113.7 or 2001:db8::7"},
		{"host name", "block-ip", "evil.example", `"evil.example" is not an IP address`, "give one address, such as 203.0.113.7 or 2001:db8::7"},
		{"web link as IP", "block-ip", "<http://203.0.113.7|203.0.113.7>", `"203.0.113.7" is not an IP address`, "give one address, such as 203.0.113.7 or 2001:db8::7"},
		{"two IPs", "block-ip", "203.0.113.7 203.0.113.8", `/block-ip takes one ip; "203.0.113.8" is extra`, "file one request per address"},
		{"reason words after the IP", "block-ip", "203.0.113.7 --reason C2 server", `/block-ip takes one ip; "server" is extra`, `if it is part of the reason, put the whole reason in quotes: --reason "…"`},

		// Meta commands.
		{"bad request id", "countersign", "status abc", `"abc" is not a request number`, "use the number on the request's card, such as 42"},
		{"signed request id", "countersign", "status +4", `"+4" is not a request number`, "use the number on the request's card, such as 42"},
		{"double hash", "countersign", "status ##4", `"##4" is not a request number`, "use the number on the request's card, such as 42"},
		{"zero request id", "countersign", "cancel 0", `"0" is not a request number; they start at 1`, "use the number on the request's card, such as 42"},
		{"negative request id", "countersign", "cancel -1", `"-1" is not a request number`, "use the number on the request's card, such as 42"},
		{"huge request id", "countersign", "cancel 9223372036854775808", `"9223372036854775808" is too large for a request number`, "use the number on the request's card, such as 42"},
		{"status without id", "countersign", "status", "/countersign status needs an id", "for example: /countersign status 42"},
		{"status with two ids", "countersign", "status 4 5", `/countersign status takes one id; "5" is extra`, ""},
		{"pending with arg", "countersign", "pending now", `/countersign pending takes no arguments; "now" is extra`, ""},
		{"help unknown topic", "countersign", "help purg", `there is no command "purg"`, "did you mean purge-mail?"},
		{"help ambiguous topic", "countersign", "help nable", `there is no command "nable"`, "did you mean enable?"},
		{"help two topics", "countersign", "help disable enable", `/countersign help takes one command; "enable" is extra`, ""},
		{"explain a meta command", "countersign", "explain pending", "explain shows what an action would do; pending is not an action", "try /countersign explain disable mallory@contoso.com"},
		{"explain explain", "countersign", "explain explain disable a@contoso.com", "explain shows what an action would do; explain is not an action", "try /countersign explain disable mallory@contoso.com"},
		{"explain nothing", "countersign", "explain", "/countersign explain needs a command line", "for example: /countersign explain purge-mail 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --action hard-delete"},
		{"explain only the umbrella", "countersign", "explain countersign", "/countersign explain needs a command line", "for example: /countersign explain purge-mail 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --action hard-delete"},
		{"explain passes inner errors on", "countersign", "explain disable bob", `"bob" is not a user address: it has no @`, addr},
		{"explain unknown inner command", "explain", "disabel bob", `unknown command "disabel"`, "did you mean /disable?"},
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.command, tt.text)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q, %q) = %+v, %v; want an *Error", tt.command, tt.text, got, err)
			}
			if e.Msg != tt.msg || e.Hint != tt.hint {
				t.Errorf("Parse(%q, %q):\n got  %q (hint %q)\n want %q (hint %q)", tt.command, tt.text, e.Msg, e.Hint, tt.msg, tt.hint)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{&Error{Msg: "m"}, "m"},
		{&Error{Msg: "m", Hint: "h"}, "m (h)"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// The input limit keeps a command line far below the target limit, so the
// target limit is checked below the input limit.
func TestTargetLimit(t *testing.T) {
	var args []arg
	for i := range MaxTargets {
		args = append(args, arg{text: fmt.Sprintf("user%d@contoso.com", i)})
	}
	got, err := parseAddresses(args, "")
	if err != nil || len(got) != MaxTargets {
		t.Fatalf("parseAddresses of %d addresses = %d addresses, %v; want all", MaxTargets, len(got), err)
	}
	// A duplicate does not count.
	if _, err := parseAddresses(append(args, arg{text: "USER0@contoso.com"}), ""); err != nil {
		t.Errorf("parseAddresses with a duplicate: %v", err)
	}
	_, err = parseAddresses(append(args, arg{text: "one-more@contoso.com"}), "")
	want := &Error{Msg: "more than 1000 targets", Hint: "split them over several requests"}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("parseAddresses of %d addresses (-want +got):\n%s", MaxTargets+1, diff)
	}
	_, err = parseAddresses(append(args, arg{text: "one-more@contoso.com"}), "recipient")
	want = &Error{Msg: "more than 1000 --recipient addresses", Hint: "split them over several requests"}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("parseAddresses of %d recipients (-want +got):\n%s", MaxTargets+1, diff)
	}
}

func TestInputLimit(t *testing.T) {
	// MaxInput counts characters, not bytes.
	text := "a@contoso.com --reason " + strings.Repeat("é", MaxReason)
	text += strings.Repeat(" ", MaxInput-len([]rune(text)))
	if _, err := Parse("disable", text); err != nil {
		t.Errorf("Parse of exactly %d characters: %v", MaxInput, err)
	}
	if _, err := Parse("disable", text+" "); err == nil {
		t.Errorf("Parse of %d characters succeeded", MaxInput+1)
	}
}

func TestParseLine(t *testing.T) {
	for _, tt := range []struct {
		line string
		want Command
	}{
		{"/disable A@contoso.com --dry-run", Command{Name: Disable, DryRun: true, Spec: spec(approvals.ActionDisable, "a@contoso.com")}},
		{"  countersign status #9", Command{Name: Status, RequestID: 9}},
		{"/countersign", Command{Name: Help}},
	} {
		got, err := ParseLine(tt.line)
		if err != nil {
			t.Fatalf("ParseLine(%q): %v", tt.line, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseLine(%q) (-want +got):\n%s", tt.line, diff)
		}
	}
	for _, tt := range []struct{ line, want string }{
		{"", "no command given (type /countersign help for the list of commands)"},
		{"/", "no command given (type /countersign help for the list of commands)"},
		{"/disable \xff", "the command is not valid UTF-8 text"},
	} {
		if _, err := ParseLine(tt.line); err == nil || err.Error() != tt.want {
			t.Errorf("ParseLine(%q) error = %v, want %q", tt.line, err, tt.want)
		}
	}
}

// Line is how a command was understood; ParseLine must read it back as the
// same command, and Line of that must not change again.
func TestLineRoundTrip(t *testing.T) {
	for _, tt := range validCases() {
		t.Run(tt.name, func(t *testing.T) {
			line := tt.want.Line()
			got, err := ParseLine(line)
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", line, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseLine(%q) (-want +got):\n%s", line, diff)
			}
			if again := got.Line(); again != line {
				t.Errorf("Line changed on a round trip: %q, then %q", line, again)
			}
		})
	}
}

func TestLine(t *testing.T) {
	for _, tt := range []struct {
		text string
		want string
	}{
		{"Mallory@Contoso.com,eve@contoso.com --dry-run --reason phish", "/disable mallory@contoso.com eve@contoso.com --reason phish --dry-run"},
		{`a@contoso.com --reason "two words"`, `/disable a@contoso.com --reason "two words"`},
		{`a@contoso.com --reason 'he said "no" '`, `/disable a@contoso.com --reason "he said "no&#34;"`},
		{`a@contoso.com --reason "R&D &amp;amp; &lt;https://x&gt;"`, `/disable a@contoso.com --reason "R&D &amp;amp; &lt;https://x>"`},
		{`a@contoso.com --reason -5`, `/disable a@contoso.com --reason "-5"`},
	} {
		c, err := Parse("disable", tt.text)
		if err != nil {
			t.Fatalf("Parse(disable, %q): %v", tt.text, err)
		}
		if got := c.Line(); got != tt.want {
			t.Errorf("Parse(disable, %q).Line() = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"", `""`},
		{"two words", `"two words"`},
		{`"quoted"`, `""quoted&#34;"`},
		{`a" b`, `"a&#34; b"`},
		{"„x“ y", `"„x&#8220; y"`},
		{"“curly” end”", `"“curly&#8221; end&#8221;"`},
		{"it's", "it's"},
		{"'lead", `"'lead"`},
		{"--flag", `"--flag"`},
		{"—flag", `"—flag"`},
		{"-x", `"-x"`},
		{"a&amp;b", "a&amp;amp;b"},
		{"a&b", "a&b"},
		{"<mailto:a@b.c>", "&lt;mailto:a@b.c>"},
		{"<a@b.c>", "<a@b.c>"},
		{"&#65;", "&amp;#65;"},
	} {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
		}
		toks, err := tokenize(Quote(tt.in))
		if err != nil || len(toks) != 1 || toks[0].flag {
			t.Fatalf("tokenize(Quote(%q)) = %+v, %v; want one word", tt.in, toks, err)
		}
		if got := expand(toks[0].text).text; got != tt.in {
			t.Errorf("Quote(%q) reads back as %q", tt.in, got)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"disable", "enable", "reset-password", "purge-mail", "pending"}
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"disable", []string{"disable"}},
		{"DISABLE", []string{"disable"}},
		{"disbale", []string{"disable"}},
		{"isable", []string{"disable"}},
		{"nable", []string{"enable"}},
		{"pendng", []string{"pending"}},
		{"purge", []string{"purge-mail"}},
		{"reset", []string{"reset-password"}},
		{"p", nil},
		{"pe", nil},
		{"xyzzy", nil},
		{"able", []string{"enable"}},
	} {
		if diff := cmp.Diff(tt.want, suggest(tt.in, cands)); diff != "" {
			t.Errorf("suggest(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	if diff := cmp.Diff([]string{"tmcas", "tmcaz"}, suggest("tmcax", []string{"tmcas", "tmcaz", "graph"})); diff != "" {
		t.Errorf("suggest with a tie (-want +got):\n%s", diff)
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"disable", "disable", 0},
		{"disbale", "disable", 1},
		{"dsiable", "disable", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3},
		{"ü", "u", 1},
	} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := distance(tt.b, tt.a); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestParseRequestID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"1", 1}, {"#42", 42}, {"007", 7},
	} {
		if got, err := ParseRequestID(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseRequestID(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "#", "0", "#0", "-3", "4.0", "٤", "1e3", "0x10", " 4"} {
		if got, err := ParseRequestID(in); err == nil {
			t.Errorf("ParseRequestID(%q) = %d, want an error", in, got)
		}
	}
}

// TestReason checks the validator the deny dialog shares with --reason.
func TestReason(t *testing.T) {
	tests := []struct {
		name, in        string
		want, msg, hint string
	}{
		{"trimmed", "  known traveller ", "known traveller", "", ""},
		{"longest", strings.Repeat("é", MaxReason), strings.Repeat("é", MaxReason), "", ""},
		{"emoji with joiner and variation selector", "⚠️ 🧑‍💻", "⚠️ 🧑‍💻", "", ""},
		{"markup is text", "*APPROVED* <!channel>", "*APPROVED* <!channel>", "", ""},
		{"blank", " \t ", "", "the reason is empty", "say in a few words why"},
		{"too long", strings.Repeat("x", MaxReason+1), "", "the reason is 501 characters long; the limit is 500", "keep the details in the ticket and give its number"},
		{"line break", "a\nb", "", "the reason has a line break", "write the reason on one line"},
		{"next line", "a\u0085b", "", "the reason has a line break", "write the reason on one line"},
		{"paragraph separator", "a\u2029b", "", "the reason has a line break", "write the reason on one line"},
		{"escape", "a\x1b[31m", "", "the reason contains the control character U+001B", "type the reason again rather than pasting it"},
		{"arabic letter mark", "a\u061cb", "", "the reason contains the text-direction character U+061C, which can disguise text", "type the reason again rather than pasting it"},
		{"first strong isolate", "a\u2068b", "", "the reason contains the text-direction character U+2068, which can disguise text", "type the reason again rather than pasting it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Reason("the reason", tt.in)
			var e *Error
			switch {
			case tt.msg == "" && err != nil:
				t.Fatalf("Reason(%q) = %v, want %q", tt.in, err, tt.want)
			case tt.msg == "" && got != tt.want:
				t.Errorf("Reason(%q) = %q, want %q", tt.in, got, tt.want)
			case tt.msg != "" && !errors.As(err, &e):
				t.Fatalf("Reason(%q) = %q, %v; want an *Error", tt.in, got, err)
			case tt.msg != "" && (e.Msg != tt.msg || e.Hint != tt.hint):
				t.Errorf("Reason(%q):\n got  %q (hint %q)\n want %q (hint %q)", tt.in, e.Msg, e.Hint, tt.msg, tt.hint)
			}
		})
	}
}
