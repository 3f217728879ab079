// Command countersign is the Countersign chat-ops bot: it serves the Slack
// and Discord endpoints, runs approved requests, and offers the operator's
// subcommands (migrate, config check, audit verify, …). Run
// "countersign help" for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// env is what a subcommand may touch of the outside world, so that tests run
// subcommands in-process with their own streams and environment.
type env struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
	// terminal, when not nil, opens stdin and stdout as a terminal the demo
	// can edit lines on; it returns nil when they are not one.
	terminal func() (rw io.ReadWriter, restore func(), err error)
}

// subcommand is one entry of the dispatch table.
type subcommand struct {
	summary string
	// needs is what the prologue opens before the body runs.
	needs needs
	// flags declares the subcommand's own flags on fs and returns its body.
	flags func(fs *flag.FlagSet) command
}

// subcommands is the dispatch table. Two-word commands ("config check") are
// keyed by both words.
func subcommands() map[string]subcommand {
	return map[string]subcommand{
		"serve":            {"run the bot: HTTP endpoints, chat adapters and workers", needsStore, serveFlags(listenTCP)},
		"demo":             {"try the bot in a terminal: no credentials, SQLite, fake providers", needsNothing, demoFlags},
		"migrate":          {"apply database migrations and exit", needsStore, migrateFlags},
		"init":             {"write a commented countersign.yaml for --slack, --discord, --tmcas, --graph, --postgres", needsNothing, initFlags},
		"config check":     {"validate the configuration and print it with secrets redacted", needsConfig, configCheckFlags},
		"audit verify":     {"verify the audit log's hash chain; exit 1 naming the first bad entry", needsCurrentStore, auditVerifyFlags},
		"audit export":     {"export the audit log as JSON lines or CSV", needsCurrentStore, auditExportFlags},
		"digest":           {"print (or --post) the digest of the last --since", needsCurrentStore, digestFlags},
		"slack manifest":   {"print the Slack app manifest (--url or http.public_url for HTTP mode, --socket-mode)", needsNothing, slackManifestFlags},
		"discord register": {"register the Discord guild's slash commands", needsConfig, discordRegisterFlags},
		"version":          {"print the version", needsNothing, versionFlags},
	}
}

// errUsage marks an error caused by how the command was called; main exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ(), terminal: rawTerminal}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit code: 0 done, 1
// failed, 2 wrong call (usage).
func run(ctx context.Context, e env, args []string) int {
	table := subcommands()
	if len(args) > 1 && args[0] == "help" {
		return run(ctx, e, append(args[1:], "-h")) // "help digest" is "digest -h"
	}
	if len(args) == 0 || isHelp(args[0]) {
		usage(e.stdout, table)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name, rest := args[0], args[1:]
	sc, ok := table[name]
	if !ok && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = args[0]+" "+args[1], args[2:]
		sc, ok = table[name]
	}
	if !ok {
		return unknown(e, table, args)
	}
	if err := invoke(ctx, e, name, sc, rest); err != nil {
		var exit exitError
		switch {
		case errors.As(err, &exit):
			if exit.msg != "" {
				fmt.Fprintf(e.stderr, "countersign %s: %s\n", name, exit.msg)
			}
			return exit.code
		case errors.Is(err, errUsage):
			fmt.Fprintf(e.stderr, "countersign %s: %v\nRun \"countersign %s -h\" for its flags and examples.\n", name, err, name)
			return 2
		default:
			fmt.Fprintf(e.stderr, "countersign %s: %v\n", name, err)
			return 1
		}
	}
	return 0
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

// unknown answers a command that is not in the table. The first word of a
// two-word command ("audit", "audit -h") lists that group's commands.
func unknown(e env, table map[string]subcommand, args []string) int {
	group := subcommandsIn(table, args[0])
	if len(group) > 0 && (len(args) == 1 || isHelp(args[1])) {
		w, code := e.stderr, 2
		if len(args) > 1 {
			w, code = e.stdout, 0
		}
		fmt.Fprintf(w, "Usage: countersign %s <command> [flags]\n\nCommands:\n", args[0])
		listCommands(w, table, group)
		fmt.Fprintf(w, "\nRun \"countersign %s <command> -h\" for a command's flags and examples.\n", args[0])
		return code
	}
	fmt.Fprintf(e.stderr, "countersign: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
	usage(e.stderr, table)
	return 2
}

// subcommandsIn returns the sorted names of table's commands whose first
// word is group and that have a second.
func subcommandsIn(table map[string]subcommand, group string) []string {
	var names []string
	for n := range table {
		if strings.HasPrefix(n, group+" ") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// exitError ends a subcommand with a specific exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func usage(w io.Writer, table map[string]subcommand) {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: countersign <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	listCommands(w, table, names)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Examples:")
	fmt.Fprintln(w, "  countersign demo")
	fmt.Fprintln(w, "  countersign config check --config countersign.yaml")
	fmt.Fprintln(w, "  countersign digest --since 7d --format json")
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "countersign <command> -h" for a command's flags and examples.`)
	fmt.Fprintln(w, "Exit codes: 0 done, 1 failed, 2 wrong call (usage).")
}

// listCommands prints names with their summaries.
func listCommands(w io.Writer, table map[string]subcommand, names []string) {
	for _, n := range names {
		fmt.Fprintf(w, "  %-17s %s\n", n, table[n].summary)
	}
}

// commandExamples are the examples "countersign <command> -h" shows; a
// command without any shows none.
func commandExamples() map[string][]string {
	return map[string][]string{
		"serve":            {"countersign serve --config countersign.yaml"},
		"demo":             {"countersign demo", "countersign demo --script session.txt"},
		"init":             {"countersign init --slack --tmcas --public-url https://countersign.example.com", "countersign init --discord --graph --postgres --out countersign.yaml --force"},
		"migrate":          {"countersign migrate --config countersign.yaml"},
		"config check":     {"countersign config check --config countersign.yaml"},
		"audit verify":     {"countersign audit verify", "countersign audit verify --checkpoint checkpoints.log"},
		"audit export":     {"countersign audit export --since 30d --format csv > audit.csv"},
		"digest":           {"countersign digest --since 7d", "countersign digest --since 24h --format json", "countersign digest --post"},
		"slack manifest":   {"countersign slack manifest --url https://countersign.example.com"},
		"discord register": {"countersign discord register --config countersign.yaml"},
		"version":          {"countersign version"},
	}
}
