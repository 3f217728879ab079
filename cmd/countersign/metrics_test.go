package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/bot/console"
)

// TestMetricsAfterFlow runs a scripted flow through the demo system (real
// store, engine, provider clients and fakes) and scrapes /metrics.
func TestMetricsAfterFlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	d, err := startDemo(ctx, env{stdout: &out, stderr: &out}, &clock{base: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	script := strings.Join([]string{
		`/disable mallory@contoso.com trent@contoso.com --reason "phishing"`,
		`/as bob`,
		`/approve 1`,
		`/as alice`,
		`/reset-password eve@contoso.com --reason "leak"`,
		`/as carol`,
		`/deny 2 not needed`,
		`/as alice`,
		`/disable eve@contoso.com --reason "later"`,
	}, "\n")
	if err := d.console.Run(ctx, console.Scan(strings.NewReader(script)), d.sys.Bot, consoleHooks(d), false); err != nil {
		t.Fatalf("script: %v\n%s", err, out.String())
	}
	rec := httptest.NewRecorder()
	d.sys.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	scrape := string(body)

	for _, tt := range []struct {
		series string
		check  func(float64) bool
		want   string
	}{
		{`countersign_requests{action="disable",provider="tmcas",state="partially_failed"}`, eq(1), "1"},
		{`countersign_requests{action="disable",provider="tmcas",state="pending"}`, eq(1), "1"},
		{`countersign_requests{action="reset-password",provider="graph",state="denied"}`, eq(1), "1"},
		{`countersign_requests{action="disable",provider="tmcas",state="succeeded"}`, eq(0), "0"},
		{`countersign_approval_latency_seconds_count{action="disable"}`, eq(1), "1"},
		// Filing, approval, start, submitting, submitted, finish of #1; filing
		// and denial of #2; filing of #3.
		{`countersign_execution_duration_seconds_count{action="disable",outcome="partially_failed",provider="tmcas"}`, eq(1), "1"},
		{`countersign_audit_chain_length`, func(v float64) bool { return v >= 9 }, ">= 9"},
		{`countersign_outbound_requests_total{code="201",host=`, func(v float64) bool { return v >= 1 }, ">= 1 (TMCAS batch created)"},
		{`countersign_rate_limit_wait_seconds_count{provider="tmcas"}`, func(v float64) bool { return v >= 2 }, ">= 2"},
		{`countersign_rate_limit_wait_seconds_count{provider="graph"}`, func(v float64) bool { return v >= 1 }, ">= 1"},
	} {
		v, ok := sample(scrape, tt.series)
		if !ok {
			t.Errorf("%s missing from the scrape", tt.series)
			continue
		}
		if !tt.check(v) {
			t.Errorf("%s = %v, want %s", tt.series, v, tt.want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", grepLines(scrape, "countersign_"))
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// sample returns the value of the first series line starting with prefix.
func sample(scrape, prefix string) (float64, bool) {
	for _, line := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func grepLines(s, pat string) string {
	re := regexp.MustCompile(regexp.QuoteMeta(pat))
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(l) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
