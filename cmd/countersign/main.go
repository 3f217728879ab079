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
	code := run(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit code.
func run(ctx context.Context, e env, args []string) int {
	table := subcommands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout, table)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name, rest := args[0], args[1:]
	sc, ok := table[name]
	if !ok && len(rest) > 0 {
		name, rest = args[0]+" "+args[1], args[2:]
		sc, ok = table[name]
	}
	if !ok {
		fmt.Fprintf(e.stderr, "countersign: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		usage(e.stderr, table)
		return 2
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
			fmt.Fprintf(e.stderr, "countersign %s: %v\n", name, err)
			return 2
		default:
			fmt.Fprintf(e.stderr, "countersign %s: %v\n", name, err)
			return 1
		}
	}
	return 0
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
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, table[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "countersign <command> -h" for a command's flags.`)
}
