package tmcas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/providers"
)

// Request items of §1.5 and §1.6. Countersign acts on Exchange Online only.
const (
	service         = "exchange"
	accountProvider = "office365"
)

type accountItem struct {
	ActionType       string `json:"action_type"`
	Service          string `json:"service"`
	AccountProvider  string `json:"account_provider"`
	AccountUserEmail string `json:"account_user_email"`
}

type mailItem struct {
	ActionType      string `json:"action_type"`
	Service         string `json:"service"`
	AccountProvider string `json:"account_provider"`
	Mailbox         string `json:"mailbox"`
	MailMessageID   string `json:"mail_message_id,omitempty"`
	MailUniqueID    string `json:"mail_unique_id,omitempty"`
	DeliveryTime    string `json:"mail_message_delivery_time,omitempty"`
}

// Kinds of batch; also the last path segment of the endpoints.
const (
	kindAccounts = "accounts"
	kindMails    = "mails"
)

// pollData is Submission.Data: what Poll needs to match results to items.
type pollData struct {
	Kind  string     `json:"kind"`
	Items []pollItem `json:"items"`
}

type pollItem struct {
	Key        string   `json:"key"`
	ActionType string   `json:"action_type"`
	Email      string   `json:"email,omitempty"`
	Mailbox    string   `json:"mailbox,omitempty"`
	MessageID  string   `json:"mail_message_id,omitempty"`
	UniqueIDs  []string `json:"mail_unique_ids,omitempty"`
}

// Submit sends one POST with every item of batch. The engine chunks with
// providers.Fit, so a body of more rows than MaxItemsPerCall is refused
// rather than split: a split would be two provider calls in one fenced step.
func (c *Client) Submit(ctx context.Context, batch providers.Batch) (providers.Submission, error) {
	p, err := c.plan(batch)
	if err != nil {
		return providers.Submission{}, err
	}
	// Message-IDs go on the wire as written (<…@…>), not as \u003c…\u003e.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p.body); err != nil {
		return providers.Submission{}, fmt.Errorf("tmcas: encoding request: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var resp submitResponse
	_, err = c.caller.Do(ctx, httpx.Call{Method: http.MethodPost, URL: c.endpoint("/v1/mitigation/"+p.kind, nil), Body: b,
		Class: httpx.Once, Needs: p.api,
		Decode: func(b []byte) (string, error) {
			r, err := decodeSubmitResponse(b)
			resp = r
			return r.TraceID, err
		}})
	if err != nil {
		return providers.Submission{}, fmt.Errorf("tmcas: submitting %d %s: %w", len(batch.Items), p.kind, err)
	}
	return p.submission(resp.BatchID, batch, c.now()), nil
}

// plan is what one Submit of a batch sends and how its results are found.
type plan struct {
	kind, api string
	body      any
	pd        pollData
}

// plan checks batch and works out its request.
func (c *Client) plan(batch providers.Batch) (plan, error) {
	n := len(batch.Items)
	if n == 0 {
		return plan{}, errors.New("tmcas: nothing to submit")
	}
	seen := make(map[string]bool, n)
	for _, it := range batch.Items {
		if it.Problem != "" {
			return plan{}, fmt.Errorf("tmcas: item %s cannot be acted on: %s", it.Key, it.Problem)
		}
		if it.Key == "" || seen[it.Key] {
			return plan{}, fmt.Errorf("tmcas: item key %q is empty or repeated", it.Key)
		}
		seen[it.Key] = true
	}
	var (
		p   plan
		err error
	)
	rows := 0
	if batch.Spec.Action == approvals.ActionPurgeMail {
		var body []mailItem
		p.kind, p.api = kindMails, apiMails
		body, p.pd.Items, err = mailBody(batch)
		p.body, rows = body, len(body)
	} else {
		var body []accountItem
		p.kind, p.api = kindAccounts, apiAccounts
		body, p.pd.Items, err = accountBody(batch)
		p.body, rows = body, len(body)
	}
	p.pd.Kind = p.kind
	if err != nil {
		return plan{}, err
	}
	if rows > c.maxItems {
		return plan{}, fmt.Errorf("tmcas: the batch makes %d rows (one per account or copy of a message), more than the %d allowed per call", rows, c.maxItems)
	}
	return p, nil
}

// submission is what Poll follows for batchID, the batch TMCAS created for
// the items of batch.
func (p plan) submission(batchID string, batch providers.Batch, at time.Time) providers.Submission {
	data, err := json.Marshal(p.pd)
	if err != nil {
		panic(fmt.Sprintf("tmcas: encoding poll data: %v", err)) // strings only
	}
	sub := providers.Submission{
		Provider:    providers.TMCAS,
		ID:          batchID,
		Items:       make([]providers.SubmittedItem, 0, len(batch.Items)),
		Data:        data,
		SubmittedAt: at.UTC(),
	}
	for _, it := range batch.Items {
		sub.Items = append(sub.Items, providers.SubmittedItem{Key: it.Key})
	}
	return sub
}

func accountBody(batch providers.Batch) ([]accountItem, []pollItem, error) {
	at, ok := accountActionTypes[batch.Spec.Action]
	if !ok {
		return nil, nil, unsupported(batch.Spec.Action)
	}
	body := make([]accountItem, 0, len(batch.Items))
	pis := make([]pollItem, 0, len(batch.Items))
	for _, it := range batch.Items {
		email := strings.TrimSpace(it.Account)
		if email == "" {
			email = it.Key
		}
		if !validAddress(email) {
			return nil, nil, fmt.Errorf("tmcas: item %s: %q is not a valid e-mail address", it.Key, email)
		}
		body = append(body, accountItem{ActionType: at, Service: service, AccountProvider: accountProvider, AccountUserEmail: email})
		pis = append(pis, pollItem{Key: it.Key, ActionType: at, Email: strings.ToLower(email)})
	}
	return body, pis, nil
}

func mailBody(batch providers.Batch) ([]mailItem, []pollItem, error) {
	action := ""
	if batch.Spec.Mail != nil {
		action = batch.Spec.Mail.Action
	}
	at, ok := mailActionTypes[action]
	if !ok {
		return nil, nil, &providers.Error{Err: providers.ErrUnsupported, Msg: fmt.Sprintf("tmcas cannot purge mail with --action %s (use delete or quarantine)", action)}
	}
	var body []mailItem
	pis := make([]pollItem, 0, len(batch.Items))
	for _, it := range batch.Items {
		var d mailData
		if err := json.Unmarshal(it.Data, &d); err != nil {
			return nil, nil, fmt.Errorf("tmcas: item %s: mail data: %w", it.Key, err)
		}
		box := strings.TrimSpace(it.Mailbox)
		if !validAddress(box) || !approvals.IsMessageID(d.MessageID) || len(d.Copies) == 0 {
			return nil, nil, fmt.Errorf("tmcas: item %s: needs a mailbox, a Message-ID and at least one copy from the sweep", it.Key)
		}
		pi := pollItem{Key: it.Key, ActionType: at, Mailbox: strings.ToLower(box), MessageID: d.MessageID}
		for _, cp := range d.Copies {
			body = append(body, mailItem{ActionType: at, Service: service, AccountProvider: accountProvider,
				Mailbox: box, MailMessageID: d.MessageID, MailUniqueID: cp.UniqueID, DeliveryTime: cp.Delivered})
			pi.UniqueIDs = append(pi.UniqueIDs, cp.UniqueID)
		}
		pis = append(pis, pi)
	}
	return body, pis, nil
}
