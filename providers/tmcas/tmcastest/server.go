// Package tmcastest is a fake Trend Micro Cloud App Security Integration API
// for tests, benchmarks and `countersign demo`. It follows
// reference/providers.md §1: it keeps accounts and mailboxes, runs mitigation
// batches through Created → Executing → Success/Failed as they are polled,
// sweeps mail, pages with next_link, throttles each token to 20 requests per
// 60 s window, and rejects any request the real API would not accept.
// Switches (Faults) inject throttling, server errors before or after a
// batch is created, latency, hangs and per-target failures; they may be
// changed while requests are in flight.
package tmcastest

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/changes"
)

// Defaults of Options.
const (
	DefaultToken  = "tmcas-test-token"
	DefaultLimit  = 20
	DefaultWindow = time.Minute
)

// Options configure a Server.
type Options struct {
	// Token is the accepted bearer token (default DefaultToken).
	Token string
	// ExtraTokens are further accepted tokens, each with its own window.
	ExtraTokens []string
	// Limit is how many requests a token may make per Window (default 20);
	// negative means unlimited.
	Limit int
	// Window is the throttle window (default one minute). It starts at the
	// first request of a token after the previous window ended.
	Window time.Duration
	// Now is the clock for windows, retention and timestamps.
	Now func() time.Time
	// Seed seeds the randomness of fault injection.
	Seed uint64
	// Faults are the initial switches; Reset returns to them.
	Faults Faults
}

// UnknownUsers says what happens to an action on an account that was not
// added with AddAccount.
type UnknownUsers int

// Modes for unknown users.
const (
	// UnknownFail: the batch is created and the action ends Failed with
	// error_code -999, as TMCAS reports errors of the Graph call it makes.
	UnknownFail UnknownUsers = iota
	// UnknownSkip: the action ends Skipped.
	UnknownSkip
	// UnknownReject: the POST is answered 400.
	UnknownReject
	// UnknownAccept: the account is created on first use.
	UnknownAccept
)

// EndForm is how the last page says there are no more: TMCAS has been seen
// to use all three.
type EndForm int

// End-of-pages forms.
const (
	EndNullString EndForm = iota // "next_link": "null" (the documented example)
	EndNull                      // "next_link": null
	EndEmpty                     // "next_link": ""
)

// Faults are switches for misbehaviour. The zero value is a healthy server.
type Faults struct {
	// Rate429 is the fraction of authorised requests answered 429 before
	// anything is done.
	Rate429 float64
	// Rate5xx is the fraction answered 500 or 503 before anything is done:
	// the real server refused, so nothing is applied. A client cannot tell
	// this from StatusAfterCreate, so it must not send a POST again after a
	// 5xx.
	Rate5xx float64
	// Rate5xxGET is a further fraction of GET requests answered 500 or 503
	// before anything is done, for runs in which only reads should fail.
	Rate5xxGET float64
	// RetryAfter adds Retry-After to 429 answers: the seconds left in the
	// window for a throttled token, InjectedRetryAfter for injected ones.
	RetryAfter bool
	// InjectedRetryAfter is the Retry-After of injected 429s (default 1 s).
	InjectedRetryAfter time.Duration
	// Latency delays every answer after the request was processed.
	Latency time.Duration
	// HangAfterCreate makes a POST create its batch and then never answer,
	// until the client gives up or the server closes.
	HangAfterCreate bool
	// StatusAfterCreate makes a POST create its batch and then answer this
	// status (500, 502, 503, 504) with an error body instead of 201, as when
	// the server or a gateway in front of it fails after the action was
	// taken. Zero answers 201.
	StatusAfterCreate int
	// FailTargets are account e-mails or mailboxes (any case) whose actions
	// end Failed with error_code -999.
	FailTargets []string
	// UnknownUsers handles actions on accounts never added.
	UnknownUsers UnknownUsers
	// ResultPageSize caps actions per results page (default: the limit
	// parameter, 500).
	ResultPageSize int
	// SweepPageSize caps mails per sweep page (default: the limit
	// parameter, 20).
	SweepPageSize int
	// EndOfPages is the next_link of a last page.
	EndOfPages EndForm
	// LinkBase replaces the server's own URL in next_link and current_link,
	// to test that clients refuse foreign links.
	LinkBase string
	// HiddenPolls is how many polls of a new batch do not list its actions
	// at all; then CreatedPolls answer Created and ExecutingPolls answer
	// Executing before the actions finish. Zero finishes on the first poll.
	HiddenPolls, CreatedPolls, ExecutingPolls int
	// MsgNull makes 201 answers carry "msg": null, as the field table says,
	// instead of "" as the example shows.
	MsgNull bool
	// MaxRows refuses with 400 a POST whose array has more rows, and does
	// nothing of it. TMCAS documents no maximum (§1.5, §7), so this is the
	// least convenient answer to a cap a tenant may meet. Zero: no cap.
	MaxRows int
	// CreatedCode makes a POST create its batch and answer 201 with this
	// non-zero result code and CreatedMsg. §1.5 fixes code to 0 on 201;
	// the fake still creates the batch, the least convenient reading.
	CreatedCode int
	// CreatedMsg is the msg of a CreatedCode answer.
	CreatedMsg string
	// OmitBatchID makes a POST create its batch and answer 201 with code 0
	// but no batch_id, an answer the documents do not define.
	OmitBatchID bool
	// FinalStatus, when set, replaces the status of every action once it
	// has run (its effect is applied as usual), to send values of the
	// status enum that §1.8 does not list ("Queued") or any listed one.
	FinalStatus string
	// Forbidden are path prefixes answered 403, as for a token without the
	// API type ("/v1/mitigation/accounts").
	Forbidden []string
}

// Account is the state of one account.
type Account struct {
	Email           string
	Disabled        bool
	MFAEnabled      bool
	PasswordResets  int
	SessionsRevoked int
}

// Mail is one copy of a message in one mailbox.
type Mail struct {
	Mailbox   string
	MessageID string // Internet Message-ID, <…@…>
	UniqueID  string // the provider's id of this copy; generated when empty
	Subject   string
	Sender    string
	Delivered time.Time // now when zero
}

// Mail folders.
const (
	FolderInbox      = "inbox"
	FolderQuarantine = "quarantine"
	FolderDeleted    = "deleted"
)

// MailState is a mail and where it is now.
type MailState struct {
	Mail
	Folder string
}

// Call is one request the server received.
type Call struct {
	Method string
	Path   string
	Query  url.Values
	Body   []byte
	Token  string // the bearer token sent, "" when none
	Status int
	Time   time.Time
}

// Action is one action of a batch, as the results API would report it.
type Action struct {
	ID           string
	BatchID      string
	Type         string
	Target       string // account e-mail or mailbox
	MessageID    string
	UniqueID     string
	Status       string // Created, Executing, Success, Skipped, Failed
	ErrorCode    int
	ErrorMessage string
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	opts Options
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	faults   Faults
	rng      *rand.Rand
	windows  map[string]*window
	accounts map[string]*Account // by lower-cased e-mail
	mails    []*MailState
	batches  map[string]*batch
	order    []*batch // creation order
	calls    []Call
	seq      int

	// Signal is told of every call once it is recorded, with the state it
	// changed: tests wait for what the fake records with Wait.
	changes.Signal
}

// New starts a server; Close it when done.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Limit == 0 {
		opts.Limit = DefaultLimit
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, done: make(chan struct{})}
	s.resetLocked()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL to configure a client with.
func (s *Server) URL() string { return s.srv.URL }

// Token is the accepted bearer token.
func (s *Server) Token() string { return s.opts.Token }

// Close stops the server, ending hanging and delayed answers.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	s.srv.Close()
}

// Reset forgets accounts, mails, batches, calls and windows, and restores
// the initial faults and randomness.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.faults = cloneFaults(s.opts.Faults)
	s.rng = rand.New(rand.NewPCG(s.opts.Seed, s.opts.Seed^0x5deece66d))
	s.windows = map[string]*window{}
	s.accounts = map[string]*Account{}
	s.mails = nil
	s.batches = map[string]*batch{}
	s.order = nil
	s.calls = nil
}

func cloneFaults(f Faults) Faults {
	f.FailTargets = slices.Clone(f.FailTargets)
	f.Forbidden = slices.Clone(f.Forbidden)
	return f
}

// SetFaults replaces the switches; requests already past the checks are
// not affected.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = cloneFaults(f)
}

// UpdateFaults changes the switches under the server's lock.
func (s *Server) UpdateFaults(fn func(*Faults)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.faults)
	s.faults = cloneFaults(s.faults)
}

// Faults returns the current switches.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneFaults(s.faults)
}

// AddAccount adds an enabled account; adding it again changes nothing.
func (s *Server) AddAccount(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountLocked(email)
}

func (s *Server) accountLocked(email string) *Account {
	k := strings.ToLower(strings.TrimSpace(email))
	a := s.accounts[k]
	if a == nil {
		a = &Account{Email: strings.TrimSpace(email)}
		s.accounts[k] = a
	}
	return a
}

// Account returns the state of an account.
func (s *Server) Account(email string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[strings.ToLower(strings.TrimSpace(email))]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// AddMail delivers a copy of a message to a mailbox's inbox and returns it
// with UniqueID and Delivered filled in.
func (s *Server) AddMail(m Mail) Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if m.UniqueID == "" {
		m.UniqueID = uniqueID(s.seq)
	}
	if m.Delivered.IsZero() {
		m.Delivered = s.opts.Now()
	}
	m.Delivered = m.Delivered.UTC().Truncate(time.Millisecond)
	s.mails = append(s.mails, &MailState{Mail: m, Folder: FolderInbox})
	return m
}

// Mails returns every copy of the message with this Internet Message-ID,
// in the order added.
func (s *Server) Mails(messageID string) []MailState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MailState
	for _, m := range s.mails {
		if m.MessageID == messageID {
			out = append(out, *m)
		}
	}
	return out
}

// MailByUniqueID returns one copy by its unique id.
func (s *Server) MailByUniqueID(uid string) (MailState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mails {
		if m.UniqueID == uid {
			return *m, true
		}
	}
	return MailState{}, false
}

// Calls returns every request received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Query = cloneValues(c.Query)
		c.Body = slices.Clone(c.Body)
		out[i] = c
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// Posts returns how many POST requests reached the server, answered or
// not.
func (s *Server) Posts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == http.MethodPost {
			n++
		}
	}
	return n
}

// Actions returns the actions of a batch in submission order, without
// counting as a poll.
func (s *Server) Actions(batchID string) []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches[batchID]
	if b == nil {
		return nil
	}
	out := make([]Action, 0, len(b.actions))
	for _, a := range b.actions {
		out = append(out, a.export())
	}
	return out
}

// BatchIDs returns the ids of every batch created, oldest first.
func (s *Server) BatchIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.order))
	for _, b := range s.order {
		out = append(out, b.id)
	}
	return out
}

// wait delays an answer by d, ending early when the client leaves or the
// server closes.
func (s *Server) wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
}

// hang blocks until the client leaves or the server closes.
func (s *Server) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.done:
	}
}

// window is one token's throttle window.
type window struct {
	start time.Time
	n     int
}
