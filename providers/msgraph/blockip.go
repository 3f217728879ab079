package msgraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// The legacy securityActions API exists only in beta (§5).
const securityActionsPath = "/security/securityActions"

// StateNotChecked is the State of a resolved IP: the legacy API offers no
// lookup of what is blocked.
const StateNotChecked = "not checked (the legacy API cannot look up blocks)"

// blockIPPoll is Submission.Data of a BlockIp.
type blockIPPoll struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
	ID   string `json:"id"`
}

// resolveIPs validates the addresses; nothing is looked up.
func resolveIPs(targets []string) []providers.Resolved {
	out := make([]providers.Resolved, 0, len(targets))
	seen := map[string]bool{}
	for _, t := range targets {
		raw := strings.TrimSpace(t)
		addr, err := netip.ParseAddr(raw)
		if err != nil || addr.Zone() != "" {
			out = append(out, providers.Resolved{Key: raw, Target: t, Display: raw, Problem: "not an IPv4 or IPv6 address"})
			continue
		}
		addr = addr.Unmap()
		key := addr.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		r := providers.Resolved{Key: key, Target: t, Display: key, State: StateNotChecked,
			Identity: approvals.Identity{ID: key, Addresses: []string{key}}}
		if addr.IsUnspecified() || addr.IsLoopback() || addr.IsMulticast() {
			r.Problem = "an unspecified, loopback or multicast address cannot be blocked"
		}
		out = append(out, r)
	}
	return out
}

// submitBlockIP creates one BlockIp securityAction (beta, deprecated).
func (c *Client) submitBlockIP(ctx context.Context, batch providers.Batch) (providers.Submission, error) {
	c.deprecation.Do(func() {
		c.log.WarnContext(ctx, "graph: /block-ip uses the legacy Graph Security securityActions API (beta), deprecated since 2024-04-10 with removal announced for 2026-04-10; expect it to fail")
	})
	it := batch.Items[0]
	addr, err := netip.ParseAddr(it.Key)
	if err != nil {
		return providers.Submission{}, fmt.Errorf("graph: item %s is not an IP address", it.Key)
	}
	body, err := json.Marshal(struct {
		Name              string            `json:"name"`
		ActionReason      string            `json:"actionReason"`
		Parameters        []keyValuePair    `json:"parameters"`
		VendorInformation map[string]string `json:"vendorInformation"`
	}{"BlockIp", blockIPReason(batch), []keyValuePair{{"IP", addr.String()}}, map[string]string{"provider": "Windows Defender ATP", "vendor": "Microsoft"}})
	if err != nil {
		return providers.Submission{}, fmt.Errorf("graph: encoding securityAction: %w", err)
	}
	res, err := c.post(ctx, c.endpoint("beta", securityActionsPath, ""), body, permSecActions)
	if err != nil {
		return providers.Submission{}, fmt.Errorf("graph: BlockIp %s: %w", addr, err)
	}
	a, err := decodeSecurityAction(res.Body)
	if err != nil {
		// Created (2xx), but without its id it cannot be tracked or cancelled.
		return providers.Submission{}, fmt.Errorf("graph: BlockIp %s: HTTP %d (request-id %s): %w: answer unreadable: %w",
			addr, res.Status, clean(res.RequestID), providers.ErrUncertain, err)
	}
	return blockIPSubmission(it.Key, a.ID, c.now()), nil
}

// blockIPReason is the actionReason of a batch's securityAction: the label
// and note, by which Reconcile also finds it.
func blockIPReason(batch providers.Batch) string {
	reason := batch.Label
	if batch.Note != "" {
		reason += " — " + batch.Note
	}
	if reason == "" {
		reason = fmt.Sprintf("Countersign request %d", batch.RequestID)
	}
	return reason
}

// blockIPSubmission is what Poll follows for securityAction id.
func blockIPSubmission(key, id string, at time.Time) providers.Submission {
	data, _ := json.Marshal(blockIPPoll{Kind: kindBlockIP, Key: key, ID: id})
	return providers.Submission{
		Provider:    providers.Graph,
		ID:          id,
		Items:       []providers.SubmittedItem{{Key: key, Ref: id}},
		Data:        data,
		SubmittedAt: at.UTC(),
	}
}

// pollBlockIP reads the securityAction. Status is compared
// case-insensitively (the doc sample writes "notStarted"); an unknown
// value is not terminal.
func (c *Client) pollBlockIP(ctx context.Context, sub providers.Submission) (providers.Progress, error) {
	pd, err := decodeData[blockIPPoll](sub.Data, "submission data")
	if err != nil {
		return providers.Progress{}, err
	}
	if pd.ID == "" {
		return providers.Progress{}, errors.New("graph: submission has no securityAction id")
	}
	st := providers.ItemStatus{Key: pd.Key, Ref: pd.ID}
	res, err := c.get(ctx, c.endpoint("beta", securityActionsPath+"/"+url.PathEscape(pd.ID), ""), permSecActRead)
	var ge *Error
	switch {
	case errors.As(err, &ge) && ge.Status == http.StatusNotFound:
		st.Status, st.Detail = approvals.ItemFailed, "the securityAction is no longer found"
		return providers.Progress{Items: []providers.ItemStatus{st}, Done: true}, nil
	case err != nil:
		return providers.Progress{}, fmt.Errorf("graph: polling securityAction %s: %w", pd.ID, err)
	}
	a, err := decodeSecurityAction(res.Body)
	if err != nil {
		return providers.Progress{}, fmt.Errorf("graph: polling securityAction %s (request-id %s): %w", pd.ID, clean(res.RequestID), err)
	}
	st.Status, st.Detail = securityActionStatus(a)
	return providers.Progress{Items: []providers.ItemStatus{st}, Done: st.Status.Terminal()}, nil
}

// securityActionStatus maps operationStatus (NotStarted, Running,
// Completed, Failed).
func securityActionStatus(a securityAction) (approvals.ItemStatus, string) {
	switch strings.ToLower(strings.TrimSpace(a.Status)) {
	case "notstarted":
		return approvals.ItemSubmitted, "BlockIp not started yet"
	case "running":
		return approvals.ItemRunning, "BlockIp running"
	case "completed":
		d := "BlockIp completed"
		if t, ok := parseGraphTime(a.CompletedDateTime); ok {
			d += " at " + t.Format("2006-01-02 15:04:05Z")
		}
		return approvals.ItemSucceeded, d
	case "failed":
		d := "BlockIp failed"
		if a.ErrorInfo != nil {
			if m := clean(a.ErrorInfo.Message); m != "" {
				d += ": " + m
			}
			if a.ErrorInfo.Code != 0 {
				d += fmt.Sprintf(" (code %d)", a.ErrorInfo.Code)
			}
		}
		return approvals.ItemFailed, d
	}
	return approvals.ItemRunning, fmt.Sprintf("Graph reports status %q", clean(a.Status))
}

// Cancel asks Graph to cancel a BlockIp securityAction
// (POST /beta/security/securityActions/{id}/cancelSecurityAction). It
// needs Config.EnableLegacySecurityActions and the global cloud.
func (c *Client) Cancel(ctx context.Context, securityActionID string) error {
	if !c.Supports(approvals.ActionBlockIP) {
		return c.unsupported(approvals.ActionBlockIP)
	}
	id := strings.TrimSpace(securityActionID)
	if id == "" {
		return errors.New("graph: cancel: securityAction id is empty")
	}
	u := c.endpoint("beta", securityActionsPath+"/"+url.PathEscape(id)+"/cancelSecurityAction", "")
	if _, err := c.post(ctx, u, nil, permSecActions); err != nil {
		return fmt.Errorf("graph: cancelling securityAction %s: %w", id, err)
	}
	return nil
}
