package slacktest

import (
	"encoding/json"
	"unicode/utf8"
)

// Block Kit limits from chat.md §6 and §7.
const (
	maxMessageBlocks = 50
	maxViewBlocks    = 100
	maxTextObject    = 3000
	maxFieldText     = 2000
	maxFields        = 10
	maxActions       = 25
	maxButtonText    = 75
	maxActionID      = 255
	maxValue         = 2000
	maxMessageText   = 4000
	maxViewTitle     = 24
	maxMetadata      = 3000
)

type textObject struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Verbatim bool   `json:"verbatim"`
}

type element struct {
	Type     string      `json:"type"`
	Text     *textObject `json:"text"`
	ActionID string      `json:"action_id"`
	Value    string      `json:"value"`
	Style    string      `json:"style"`
	Confirm  *struct {
		Title   *textObject `json:"title"`
		Text    *textObject `json:"text"`
		Confirm *textObject `json:"confirm"`
		Deny    *textObject `json:"deny"`
	} `json:"confirm"`
	MaxLength int `json:"max_length"`
}

type block struct {
	Type     string          `json:"type"`
	BlockID  string          `json:"block_id"`
	Text     *textObject     `json:"text"`
	Fields   []textObject    `json:"fields"`
	Elements json.RawMessage `json:"elements"`
	Element  *element        `json:"element"`
	Label    *textObject     `json:"label"`
}

// checkMessage validates a message's fallback text and blocks JSON and
// returns the blocks, or the error code Slack would answer.
func checkMessage(text, blocksJSON string) (json.RawMessage, string) {
	if utf8.RuneCountInString(text) > maxMessageText {
		return nil, "msg_too_long"
	}
	if blocksJSON == "" {
		if text == "" {
			return nil, "no_text"
		}
		return nil, ""
	}
	var blocks []block
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		return nil, "invalid_blocks_format"
	}
	if len(blocks) > maxMessageBlocks {
		return nil, "invalid_blocks"
	}
	if code := checkBlocks(blocks, false); code != "" {
		return nil, code
	}
	return json.RawMessage(blocksJSON), ""
}

func checkText(t *textObject, limit int, kinds ...string) bool {
	if t == nil || t.Text == "" || utf8.RuneCountInString(t.Text) > limit {
		return false
	}
	for _, k := range kinds {
		if t.Type == k {
			return true
		}
	}
	return false
}

func checkBlocks(blocks []block, inView bool) string {
	ids := map[string]bool{}
	for _, b := range blocks {
		if b.BlockID != "" {
			if ids[b.BlockID] || len(b.BlockID) > 255 {
				return "invalid_blocks"
			}
			ids[b.BlockID] = true
		}
		switch b.Type {
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return "invalid_blocks"
			}
			if b.Text != nil && !checkText(b.Text, maxTextObject, "mrkdwn", "plain_text") {
				return "invalid_blocks"
			}
			if len(b.Fields) > maxFields {
				return "invalid_blocks"
			}
			for i := range b.Fields {
				if !checkText(&b.Fields[i], maxFieldText, "mrkdwn", "plain_text") {
					return "invalid_blocks"
				}
			}
		case "context":
			var els []textObject
			if err := json.Unmarshal(b.Elements, &els); err != nil || len(els) == 0 || len(els) > 10 {
				return "invalid_blocks"
			}
			for i := range els {
				if !checkText(&els[i], maxTextObject, "mrkdwn", "plain_text") {
					return "invalid_blocks"
				}
			}
		case "actions":
			var els []element
			if err := json.Unmarshal(b.Elements, &els); err != nil || len(els) == 0 || len(els) > maxActions {
				return "invalid_blocks"
			}
			actionIDs := map[string]bool{}
			for _, e := range els {
				if e.Type != "button" || !checkText(e.Text, maxButtonText, "plain_text") ||
					e.ActionID == "" || len(e.ActionID) > maxActionID || actionIDs[e.ActionID] || len(e.Value) > maxValue {
					return "invalid_blocks"
				}
				actionIDs[e.ActionID] = true
				if e.Style != "" && e.Style != "primary" && e.Style != "danger" {
					return "invalid_blocks"
				}
				if c := e.Confirm; c != nil {
					if !checkText(c.Title, 100, "plain_text") || !checkText(c.Text, 300, "plain_text", "mrkdwn") ||
						!checkText(c.Confirm, 30, "plain_text") || !checkText(c.Deny, 30, "plain_text") {
						return "invalid_blocks"
					}
				}
			}
		case "divider":
		case "input":
			if !inView || !checkText(b.Label, 2000, "plain_text") || b.Element == nil ||
				b.Element.Type != "plain_text_input" || b.Element.ActionID == "" || b.Element.MaxLength > 3000 {
				return "invalid_blocks"
			}
		default:
			return "invalid_blocks"
		}
	}
	return ""
}

// checkView validates a views.open modal.
func checkView(raw json.RawMessage) string {
	var v struct {
		Type            string      `json:"type"`
		Title           *textObject `json:"title"`
		Submit          *textObject `json:"submit"`
		Close           *textObject `json:"close"`
		CallbackID      string      `json:"callback_id"`
		PrivateMetadata string      `json:"private_metadata"`
		Blocks          []block     `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Type != "modal" {
		return "invalid_arguments"
	}
	if !checkText(v.Title, maxViewTitle, "plain_text") ||
		(v.Submit != nil && !checkText(v.Submit, maxViewTitle, "plain_text")) ||
		(v.Close != nil && !checkText(v.Close, maxViewTitle, "plain_text")) ||
		len(v.CallbackID) > 255 || len(v.PrivateMetadata) > maxMetadata ||
		len(v.Blocks) == 0 || len(v.Blocks) > maxViewBlocks {
		return "invalid_arguments"
	}
	if code := checkBlocks(v.Blocks, true); code != "" {
		return code
	}
	return ""
}
