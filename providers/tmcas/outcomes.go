package tmcas

import "github.com/countersign/countersign/approvals"

// Outcomes of POST /v1/mitigation/{accounts|mails} and of the results that
// GET /v1/mitigation/{accounts|mails} reports for its batch, from these
// documents (kept in the project's reference folder):
//
//   - seed 000 (English) and 001 (German): Trend Micro, "Take Actions on
//     User Accounts": the 201 body {code, msg, batch_id, traceId}, code
//     "fixed to 0" on 201, msg null.
//   - providers.md §1.4: Trend Micro's "HTTP status codes" page and error
//     body; §1.6 "Take Actions on Email Messages" (same response as §1.5);
//     §1.8 "Query Action Results": status Created, Executing, Success,
//     Skipped, Failed; §7: no code or error_code table.
//
// TMCAS documents no answer that means "not found" or "already done": a
// mailbox that no longer holds the message, or a copy already deleted, is
// reported only as Failed or Skipped with an error_message, which is shown
// as TMCAS wrote it. A submitted item TMCAS never lists stays submitted
// until the engine's deadline (§7: whether a batch lists every item from
// the start is not documented).

// outcome is what an answer means for the items it concerns.
type outcome string

const (
	outcomeAccepted outcome = "accepted: the results decide"
	outcomePending  outcome = "pending"
	outcomeDone     outcome = "done"
	outcomeFailed   outcome = "failed"
	outcomeNotDone  outcome = "not performed"
	outcomeRetry    outcome = "nothing done: sent again later"
	outcomeUnknown  outcome = "unknown: the results API is asked, never sent again"
)

// answer is one documented (or undocumented) answer and what the thread
// says for it.
type answer struct {
	call   string // the request
	answer string // what TMCAS answers; for results, the status value
	means  outcome
	thread approvals.ItemStatus // the item's status; "" where the call fails as a whole
	source string
}

// submitAnswers are the answers to POST /v1/mitigation/{accounts|mails}.
// Submit and httpx.Caller implement them; faults_test.go and
// created_test.go prove each against the fake.
var submitAnswers = []answer{
	{"POST", "201, code 0, a batch_id", outcomeAccepted, approvals.ItemSubmitted, "seed 000/001; §1.5"},
	{"POST", "2xx with code not 0", outcomeUnknown, "", "seed 000/001 (code fixed to 0 on 201): undefined, so uncertain"},
	{"POST", "2xx without a usable batch_id", outcomeUnknown, "", "seed 000/001: undefined, so uncertain"},
	{"POST", "400, 401, 403, 404, 405", outcomeFailed, approvals.ItemFailed, "§1.4"},
	{"POST", "429", outcomeRetry, approvals.ItemPending, "§1.3, §1.4"},
	{"POST", "500, 503, a gateway's 502 or 504, no answer", outcomeUnknown, "", "§1.4: a POST is never retried blindly"},
}

// resultAnswers are the status values of a result (§1.8). Values are
// compared without case; any other value is not defined by the documents.
var resultAnswers = []answer{
	{"GET results", "Created", outcomePending, approvals.ItemRunning, "§1.8"},
	{"GET results", "Executing", outcomePending, approvals.ItemRunning, "§1.8"},
	{"GET results", "Success", outcomeDone, approvals.ItemSucceeded, "§1.8"},
	{"GET results", "Skipped", outcomeNotDone, approvals.ItemSkipped, "§1.8: not performed; error_message says why"},
	{"GET results", "Failed", outcomeFailed, approvals.ItemFailed, "§1.8: error_code, error_message"},
}

// undefinedResult is how a status value the documents do not define is
// reported: never as done, and not final, since it may be a new working
// state; the engine's deadline ends the wait (§1.8).
var undefinedResult = answer{"GET results", "any other status", outcomeUnknown, approvals.ItemRunning, "§1.8: treat as non-terminal"}

// notConfirmed prefixes the detail of an item whose outcome TMCAS reports in
// words the documents do not define.
const notConfirmed = "sent; outcome not confirmed by the provider"
