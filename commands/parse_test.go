package commands

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, command, text string
		want                Command
	}{
		{"disable one", "disable", "Mallory@Contoso.com --reason phish",
			Command{Name: Disable, Spec: approvals.Spec{Action: approvals.ActionDisable, Targets: []string{"mallory@contoso.com"}, Reason: "phish"}}},
		{"slash and several, commas, duplicates", "/disable", "a@contoso.com,b@contoso.com  A@contoso.com c@contoso.com",
			Command{Name: Disable, Spec: approvals.Spec{Action: approvals.ActionDisable, Targets: []string{"a@contoso.com", "b@contoso.com", "c@contoso.com"}}}},
		{"slack mailto markup", "disable", "<mailto:mallory@contoso.com|mallory@contoso.com> --reason \"INC-1 phish\"",
			Command{Name: Disable, Spec: approvals.Spec{Action: approvals.ActionDisable, Targets: []string{"mallory@contoso.com"}, Reason: "INC-1 phish"}}},
		{"slack mailto without label", "reset-password", "<mailto:eve@contoso.com>",
			Command{Name: ResetPassword, Spec: approvals.Spec{Action: approvals.ActionResetPassword, Targets: []string{"eve@contoso.com"}}}},
		{"smart quotes and equals", "disable", "eve@contoso.com --reason=“stolen laptop” --provider=TMCAS --dry-run",
			Command{Name: Disable, DryRun: true, Spec: approvals.Spec{Action: approvals.ActionDisable, Provider: "tmcas", Targets: []string{"eve@contoso.com"}, Reason: "stolen laptop"}}},
		{"phone em dash", "disable", "eve@contoso.com —reason 'it was me'",
			Command{Name: Disable, Spec: approvals.Spec{Action: approvals.ActionDisable, Targets: []string{"eve@contoso.com"}, Reason: "it was me"}}},
		{"umbrella form", "countersign", "revoke-sessions eve@contoso.com",
			Command{Name: RevokeSessions, Spec: approvals.Spec{Action: approvals.ActionRevokeSessions, Targets: []string{"eve@contoso.com"}}}},
		{"purge graph guid", "purge-mail", "6C2A1F3E-4B5D-4E6F-8A9B-0C1D2E3F4A5B --action hard-delete --recipient a@contoso.com --recipient b@contoso.com --severity high --senders-copy",
			Command{Name: PurgeMail, Spec: approvals.Spec{Action: approvals.ActionPurgeMail, Targets: []string{"6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b"},
				Mail: &approvals.MailOptions{Action: "hard-delete", Recipients: []string{"a@contoso.com", "b@contoso.com"}, Severity: "high", SendersCopy: true}}}},
		{"purge tmcas message id as slack escapes it", "purge-mail", "&lt;abc.123@mail.contoso.com&gt; --provider tmcas --action delete",
			Command{Name: PurgeMail, Spec: approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "tmcas", Targets: []string{"<abc.123@mail.contoso.com>"}, Mail: &approvals.MailOptions{Action: "delete"}}}},
		{"block ip v6 normalised", "block-ip", "2001:DB8::0:7",
			Command{Name: BlockIP, Spec: approvals.Spec{Action: approvals.ActionBlockIP, Targets: []string{"2001:db8::7"}}}},
		{"block private ip", "block-ip", "10.1.2.3 --reason lateral",
			Command{Name: BlockIP, Spec: approvals.Spec{Action: approvals.ActionBlockIP, Targets: []string{"10.1.2.3"}, Reason: "lateral"}}},
		{"help overview", "countersign", "", Command{Name: Help}},
		{"help topic", "countersign", "help /purge-mail", Command{Name: Help, Topic: PurgeMail}},
		{"status with hash", "countersign", "status #42", Command{Name: Status, RequestID: 42}},
		{"cancel", "countersign", "cancel 7", Command{Name: Cancel, RequestID: 7}},
		{"pending", "countersign", "pending", Command{Name: Pending}},
		{"explain", "countersign", "explain /disable eve@contoso.com --reason x",
			Command{Name: Explain, Spec: approvals.Spec{Action: approvals.ActionDisable, Targets: []string{"eve@contoso.com"}, Reason: "x"}}},
	}
	for _, tt := range tests {
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

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, command, text string
		msg, hint           string
	}{
		{"unknown command", "disabel", "a@x.com", `unknown command "disabel"`, "did you mean /disable?"},
		{"unknown umbrella", "countersign", "purge a@x.com", `unknown command "purge"`, "did you mean /purge-mail?"},
		{"flag typo", "disable", "a@contoso.com --reasn x", "/disable has no flag --reasn", "did you mean --reason?"},
		{"flag of another command", "disable", "a@contoso.com --severity high", "/disable has no flag --severity", "see /countersign help disable"},
		{"no target", "disable", "--reason x", "/disable needs a user", `for example: /disable mallory@contoso.com --reason "phishing, INC-4711"`},
		{"not an address", "disable", "mallory", `"mallory" is not an e-mail address`, "give the full address, such as mallory@contoso.com"},
		{"link is not an address", "disable", "<https://evil.example|mallory@contoso.com>", `"<https://evil.example|mallory@contoso.com>" is a link, not an e-mail address`, "type the address itself"},
		{"address with space trick", "disable", "a@contoso.com\u200b", `"a@contoso.com\u200b" is not an e-mail address`, ""},
		{"reason missing value", "disable", "a@contoso.com --reason", "--reason needs a value", `quote it: --reason "phishing, INC-4711"`},
		{"reason empty", "disable", `a@contoso.com --reason ""`, "--reason is empty", `quote it: --reason "phishing, INC-4711"`},
		{"reason control chars", "disable", "a@contoso.com --reason \"a\u0007b\"", "--reason contains control characters", ""},
		{"reason too long", "disable", "a@contoso.com --reason " + strings.Repeat("x", 501), "--reason is 501 characters long; the limit is 500", ""},
		{"unclosed quote", "disable", `a@contoso.com --reason "phish`, "a quote is not closed", `close it: --reason "phishing, INC-4711"`},
		{"repeated flag", "disable", "a@contoso.com --reason a --reason b", "--reason is given twice", "give it once"},
		{"bool with value", "disable", "a@contoso.com --dry-run=yes", "--dry-run takes no value", "write just --dry-run"},
		{"bad provider", "disable", "a@contoso.com --provider graf", `--provider "graf" is not one of tmcas, graph`, "did you mean --provider graph?"},
		{"bad mail action", "purge-mail", "6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --action shred", `--action "shred" is not one of soft-delete, hard-delete, junk, deleted-items, inbox, quarantine, delete`, ""},
		{"mail action of other provider", "purge-mail", "6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --provider graph --action quarantine", "--action quarantine is not available on graph", "graph offers soft-delete, hard-delete, junk, deleted-items, inbox"},
		{"guid with tmcas", "purge-mail", "6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --provider tmcas", "tmcas finds mail by its Internet Message-ID, not a Graph networkMessageId", "give the Message-ID header in angle brackets, such as <abc@mail.contoso.com>, or use --provider graph"},
		{"message id with graph", "purge-mail", "<a@b.c> --provider graph", "graph finds mail by its networkMessageId (a GUID), not the Message-ID header", "copy the Network Message ID from the Defender portal, or use --provider tmcas"},
		{"severity on tmcas", "purge-mail", "<a@b.c> --provider tmcas --severity high", "--severity and --senders-copy are graph options", "drop them, or use --provider graph"},
		{"not a message id", "purge-mail", "hello", `"hello" is not a message id`, "give the Graph networkMessageId (a GUID such as 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b) or, with --provider tmcas, the Message-ID <…@…>"},
		{"two message ids", "purge-mail", "<a@b.c> <d@e.f>", "/purge-mail takes one message id", "file one request per message"},
		{"bad recipient", "purge-mail", "<a@b.c> --recipient bob", `"bob" is not an e-mail address`, "give the full address, such as mallory@contoso.com"},
		{"loopback ip", "block-ip", "127.0.0.1", "127.0.0.1 is a loopback or unspecified address; blocking it would do nothing useful", ""},
		{"unspecified ip", "block-ip", "::", ":: is a loopback or unspecified address; blocking it would do nothing useful", ""},
		{"multicast ip", "block-ip", "224.0.0.1", "224.0.0.1 is a multicast or link-local address and cannot be blocked", ""},
		{"link-local ip", "block-ip", "fe80::1", "fe80::1 is a multicast or link-local address and cannot be blocked", ""},
		{"not an ip", "block-ip", "evil.example", `"evil.example" is not an IP address`, "such as 203.0.113.7 or 2001:db8::7"},
		{"bad request id", "countersign", "status abc", `"abc" is not a request number`, "use the number on the request's card, such as 42"},
		{"zero request id", "countersign", "cancel 0", `"0" is not a request number`, "use the number on the request's card, such as 42"},
		{"status without id", "countersign", "status", "/status needs an id", "for example: /countersign status 42"},
		{"pending with arg", "countersign", "pending now", `/pending takes no arguments, got "now"`, ""},
		{"help unknown topic", "countersign", "help purge", `there is no command "purge"`, "did you mean purge-mail?"},
		{"explain a meta command", "countersign", "explain pending", "explain shows what an action would do; /pending is not an action", "try /countersign explain disable mallory@contoso.com"},
		{"explain nothing", "countersign", "explain", "/explain needs a command", "for example: /countersign explain disable mallory@contoso.com"},
		{"too long", "disable", strings.Repeat("a", MaxInput+1), "the command is too long (more than 4000 characters)", "split the targets over several requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.command, tt.text)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q, %q) error = %v, want *Error", tt.command, tt.text, err)
			}
			if e.Msg != tt.msg || e.Hint != tt.hint {
				t.Errorf("Parse(%q, %q):\n got  %q (hint %q)\n want %q (hint %q)", tt.command, tt.text, e.Msg, e.Hint, tt.msg, tt.hint)
			}
		})
	}
}

func TestTooManyTargets(t *testing.T) {
	// A command line hits the input limit long before the target limit, so
	// check the target limit directly.
	addrs := make([]string, MaxTargets+1)
	for i := range addrs {
		addrs[i] = "user" + strconv.Itoa(i) + "@contoso.com"
	}
	if _, err := parseAddresses(addrs); err == nil || !strings.Contains(err.Error(), "more than 1000 targets") {
		t.Errorf("parseAddresses of %d addresses: %v, want the target limit", len(addrs), err)
	}
}

func TestHelp(t *testing.T) {
	all, err := HelpText("")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Registry() {
		if !strings.Contains(all, string(d.Name)) {
			t.Errorf("overview lacks %s", d.Name)
		}
		one, err := HelpText(d.Name)
		if err != nil {
			t.Fatalf("HelpText(%s): %v", d.Name, err)
		}
		for _, f := range d.Flags {
			if !strings.Contains(one, "--"+f.Name) {
				t.Errorf("help for %s lacks --%s", d.Name, f.Name)
			}
		}
		// Every example in the help must itself parse.
		name, text, _ := strings.Cut(strings.TrimPrefix(d.Example, "/"), " ")
		if _, err := Parse(name, text); err != nil {
			t.Errorf("example of %s does not parse: %q: %v", d.Name, d.Example, err)
		}
	}
	if _, err := HelpText("purg-mail"); err == nil || !strings.Contains(err.Error(), "did you mean purge-mail?") {
		t.Errorf("HelpText(purg-mail) = %v, want a hint", err)
	}
}

func TestRegistryMatchesActions(t *testing.T) {
	var actions []approvals.Action
	for _, d := range Registry() {
		if d.IsAction() {
			actions = append(actions, d.Action)
			if string(d.Name) != string(d.Action) {
				t.Errorf("command %s files action %s", d.Name, d.Action)
			}
		}
	}
	if diff := cmp.Diff(approvals.Actions(), actions); diff != "" {
		t.Errorf("action commands differ from approvals.Actions (-want +got):\n%s", diff)
	}
}
